"""Which failures of a PSE call are worth another try, and the tenacity policy for them.

Retried: the connection could not be made or was cut, HTTP 5xx without a SOAP answer,
and ACH's FAIL_TIMEOUT. Never retried: a definitive answer (any other return code, a
SOAP fault). A read time-out (or a cut after sending) is retried only for the
idempotent queries: a create may have reached the bank, so it is never sent twice.
"""
from __future__ import annotations

import logging
from typing import Any, Callable, TypeVar

import requests
import urllib3.exceptions
from tenacity import (RetryCallState, Retrying, retry_if_exception, retry_if_result, stop_after_attempt,
                      stop_after_delay, wait_exponential_jitter)
from zeep.exceptions import TransportError

from integrations.pse.provider import FAIL_TIMEOUT
from zona_privada.settings import PseSettings

log = logging.getLogger(__name__)
T = TypeVar("T")


def never_sent(exc: BaseException) -> bool:
    """True when the request certainly did not leave: no connection was ever made."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if isinstance(exc, requests.ConnectionError) and not isinstance(exc, requests.ReadTimeout):
        reason = exc.args[0] if exc.args else None
        if isinstance(reason, urllib3.exceptions.MaxRetryError):
            reason = reason.reason
        return isinstance(reason, (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError))
    return False


def http_5xx(exc: BaseException) -> bool:
    return isinstance(exc, TransportError) and (exc.status_code or 0) >= 500


def transient(exc: BaseException, *, idempotent: bool) -> bool:
    if never_sent(exc) or http_5xx(exc):
        return True
    if idempotent and isinstance(exc, (requests.ConnectionError, requests.Timeout)):
        return True
    return False


def answered_fail_timeout(result: Any) -> bool:
    return getattr(result, "return_code", None) == FAIL_TIMEOUT


def retrying(settings: PseSettings, *, idempotent: bool, operation: str) -> Retrying:
    def before_sleep(state: RetryCallState) -> None:
        outcome = state.outcome
        why = repr(outcome.exception()) if outcome and outcome.failed else "FAIL_TIMEOUT"
        log.warning("PSE %s: intento %d falló (%s); se reintenta", operation, state.attempt_number, why)

    return Retrying(
        stop=stop_after_attempt(settings.retry_attempts) | stop_after_delay(settings.retry_total_s),
        wait=wait_exponential_jitter(multiplier=settings.retry_wait_initial_s, max=settings.retry_wait_max_s,
                                     jitter=settings.retry_wait_initial_s),
        retry=retry_if_exception(lambda e: transient(e, idempotent=idempotent)) | retry_if_result(answered_fail_timeout),
        before_sleep=before_sleep,
        # The last FAIL_TIMEOUT answer is returned as it is; the last exception is raised.
        retry_error_callback=_last_outcome,
    )


def _last_outcome(state: RetryCallState) -> Any:
    assert state.outcome is not None
    return state.outcome.result()  # re-raises the last exception, if that is what it was


def call(settings: PseSettings, fn: Callable[[], T], *, idempotent: bool, operation: str) -> T:
    return retrying(settings, idempotent=idempotent, operation=operation)(fn)
