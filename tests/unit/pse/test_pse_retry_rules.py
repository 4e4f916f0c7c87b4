"""Which failures the client's policy retries (integrations/pse/retry.py)."""
from __future__ import annotations

import pytest
import requests
import urllib3.exceptions
from zeep.exceptions import Fault, TransportError

from integrations.pse import retry
from integrations.pse.provider import CreateResult
from zona_privada.settings import load_pse_settings

SETTINGS = load_pse_settings({"ZONA_PSE_RETRY_ATTEMPTS": "4", "ZONA_PSE_RETRY_WAIT_INITIAL_S": "0.001",
                              "ZONA_PSE_RETRY_WAIT_MAX_S": "0.002"})


def refused() -> requests.ConnectionError:
    reason = urllib3.exceptions.NewConnectionError(None, "refused")  # type: ignore[arg-type]
    return requests.ConnectionError(urllib3.exceptions.MaxRetryError(None, "/", reason))  # type: ignore[arg-type]


def cut() -> requests.ConnectionError:
    return requests.ConnectionError(urllib3.exceptions.ProtocolError("Connection aborted.", ConnectionResetError()))


@pytest.mark.parametrize(("exc", "idempotent", "expected"), [
    (refused(), False, True),
    (requests.ConnectTimeout(), False, True),
    (TransportError("503", status_code=503), False, True),
    (cut(), False, False),                      # a create may have arrived
    (requests.ReadTimeout(), False, False),
    (cut(), True, True),                        # queries may be asked again
    (requests.ReadTimeout(), True, True),
    (TransportError("400", status_code=400), True, False),
    (Fault("no"), True, False),
    (ValueError("x"), True, False),
])
def test_transient(exc: BaseException, idempotent: bool, expected: bool) -> None:
    assert retry.transient(exc, idempotent=idempotent) is expected


def counting(outcomes: list[object]):  # noqa: ANN201
    calls = []

    def fn() -> object:
        calls.append(1)
        outcome = outcomes[min(len(calls), len(outcomes)) - 1]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome
    return fn, calls


def test_retries_stop_after_the_attempts_and_raise_the_last_error() -> None:
    fn, calls = counting([requests.ConnectTimeout()])
    with pytest.raises(requests.ConnectTimeout):
        retry.call(SETTINGS, fn, idempotent=True, operation="x")
    assert len(calls) == 4


def test_fail_timeout_answers_are_retried_and_the_last_is_returned() -> None:
    fn, calls = counting([CreateResult("FAIL_TIMEOUT")])
    assert retry.call(SETTINGS, fn, idempotent=False, operation="x").return_code == "FAIL_TIMEOUT"
    assert len(calls) == 4
    fn, calls = counting([CreateResult("FAIL_TIMEOUT"), CreateResult("SUCCESS", "1", "u")])
    assert retry.call(SETTINGS, fn, idempotent=False, operation="x").ok and len(calls) == 2


@pytest.mark.parametrize("answer", [CreateResult("FAIL_BANKUNREACHEABLE"), CreateResult("SUCCESS", "1", "u")])
def test_definitive_answers_are_not_retried(answer: CreateResult) -> None:
    fn, calls = counting([answer])
    assert retry.call(SETTINGS, fn, idempotent=False, operation="x") == answer and len(calls) == 1


def test_a_read_timeout_is_not_retried_for_a_create() -> None:
    fn, calls = counting([requests.ReadTimeout()])
    with pytest.raises(requests.ReadTimeout):
        retry.call(SETTINGS, fn, idempotent=False, operation="x")
    assert len(calls) == 1
