"""The client's retry rules against the sandbox's fault modes, over real HTTP: what is
retried (connection errors, HTTP 5xx, FAIL_TIMEOUT; read time-outs only for queries),
what is not (definitive answers, SOAP faults, a create whose answer may be lost), and
that retrying stops."""
from __future__ import annotations

import time
from decimal import Decimal

import pytest

from integrations.pse import CreateRequest, PseOutcomeUnknown, PseRejectedRequest, PseUnavailable
from integrations.pse.ach import AchPseProvider
from tests.processes import wait_for
from tests.support.ports import free_port
from zona_privada.settings import load_pse_settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ATTEMPTS = 3  # CLIENT_ENV in conftest


def create(provider: AchPseProvider, ticket_id: int, bank: str = "1022") -> object:
    return provider.create(CreateRequest(ticket_id=ticket_id, bank_code=bank, amount=Decimal("38000.00"),
                                         return_url="http://127.0.0.1:9/pse/retorno"))


def plant(sandbox, operation: str, mode: str, times: int = 1, **extra: object) -> None:  # noqa: ANN001
    sandbox.control("faults", {"operation": operation, "mode": mode, "times": times, **extra})


def faults_left(sandbox) -> int:  # noqa: ANN001
    return sum(int(f["times"]) for f in sandbox.control("faults"))


@pytest.mark.parametrize("mode", ["http_500", "http_503", "timeout"])
def test_a_query_is_retried_through_5xx_and_read_timeouts(sandbox, provider, mode: str) -> None:  # noqa: ANN001
    cus = create(provider, 300, bank="9101").cus
    plant(sandbox, "getTransactionInformation", mode, times=ATTEMPTS - 1)
    assert provider.query(cus).state == "OK"
    assert faults_left(sandbox) == 0  # both planted failures were met: three attempts


def test_fail_timeout_is_retried(sandbox, provider) -> None:  # noqa: ANN001
    cus = create(provider, 301, bank="9101").cus
    plant(sandbox, "getTransactionInformation", "fail", times=1, code="FAIL_TIMEOUT")
    assert provider.query(cus).state == "OK"
    assert faults_left(sandbox) == 0


def test_retrying_stops_after_the_attempts_allowed(sandbox, provider) -> None:  # noqa: ANN001
    cus = create(provider, 302, bank="9101").cus
    plant(sandbox, "getTransactionInformation", "http_503", times=10)
    started = time.monotonic()
    with pytest.raises(PseUnavailable):
        provider.query(cus)
    assert faults_left(sandbox) == 10 - ATTEMPTS
    assert time.monotonic() - started < 5

    plant(sandbox, "getTransactionInformation", "fail", times=10, code="FAIL_TIMEOUT")
    sandbox.control("reset", {})
    cus = create(provider, 303, bank="9101").cus
    plant(sandbox, "getTransactionInformation", "fail", times=10, code="FAIL_TIMEOUT")
    assert provider.query(cus).return_code == "FAIL_TIMEOUT"  # the last answer, after the attempts
    assert faults_left(sandbox) == 10 - ATTEMPTS


def test_retrying_stops_at_the_total_time(sandbox) -> None:  # noqa: ANN001
    provider = sandbox.provider(ZONA_PSE_RETRY_ATTEMPTS="50", ZONA_PSE_RETRY_TOTAL_S="1.5")
    cus = create(provider, 304, bank="9101").cus
    plant(sandbox, "getTransactionInformation", "http_503", times=1000)
    started = time.monotonic()
    with pytest.raises(PseUnavailable):
        provider.query(cus)
    assert 1.4 < time.monotonic() - started < 3
    assert 1000 - faults_left(sandbox) < 50


def test_a_soap_fault_is_definitive(sandbox, provider) -> None:  # noqa: ANN001
    cus = create(provider, 305, bank="9101").cus
    plant(sandbox, "getTransactionInformation", "fault", times=5)
    with pytest.raises(PseRejectedRequest):
        provider.query(cus)
    assert faults_left(sandbox) == 4  # one attempt only


@pytest.mark.parametrize("code", ["FAIL_BANKUNREACHEABLE"])
def test_a_definitive_create_answer_is_not_retried(sandbox, provider, code: str) -> None:  # noqa: ANN001
    assert create(provider, 306, bank="9111").return_code == code
    assert sandbox.creates_for(306) == [code]


def test_a_create_is_retried_on_fail_timeout_and_5xx_where_nothing_was_created(sandbox, provider) -> None:  # noqa: ANN001
    assert create(provider, 307, bank="9112").return_code == "FAIL_TIMEOUT"
    assert sandbox.creates_for(307) == ["FAIL_TIMEOUT"] * ATTEMPTS
    with pytest.raises(PseUnavailable):
        create(provider, 308, bank="9110")
    assert sandbox.creates_for(308) == ["http_500"] * ATTEMPTS
    # A planted 5xx once, then the create goes through on the second attempt.
    plant(sandbox, "createTransactionPayment", "http_502")
    assert create(provider, 309).ok
    assert sandbox.creates_for(309) == ["created"]


@pytest.mark.parametrize(("how", "bank"), [("bank 9108: answer held past the read time-out", "9108"),
                                           ("bank 9109: connection cut after the create", "9109"),
                                           ("planted time-out", "plant:timeout"),
                                           ("planted lost answer", "plant:lost_create")])
def test_a_create_whose_answer_is_lost_is_never_sent_again(sandbox, provider, how: str, bank: str) -> None:  # noqa: ANN001
    if bank.startswith("plant:"):
        plant(sandbox, "createTransactionPayment", bank.split(":")[1])
        bank = "1022"
    started = time.monotonic()
    with pytest.raises(PseOutcomeUnknown):
        create(provider, 310, bank=bank)
    assert time.monotonic() - started < 1.9, how  # one read time-out, no second attempt
    # The bank has it, approved, and it will show in the conciliation file.
    tx = wait_for(lambda: sandbox.transaction_for(310), 3)
    assert tx is not None and tx["state"] == "OK"
    time.sleep(0.3)
    assert sandbox.creates_for(310) == ["created"], how


def test_a_slow_answer_within_the_read_timeout_is_just_slow(sandbox, provider) -> None:  # noqa: ANN001
    started = time.monotonic()
    created = create(provider, 311, bank="9107")
    assert created.ok and time.monotonic() - started >= 0.3
    assert provider.query(created.cus).state == "PENDING"


def test_nothing_listening_is_retried_then_unavailable_and_no_create_is_unknown() -> None:
    settings = load_pse_settings({"ZONA_PSE_URL": f"http://127.0.0.1:{free_port()}/PSEWebServices3/MainServices.asmx",
                                  "ZONA_PSE_RETRY_ATTEMPTS": "3", "ZONA_PSE_RETRY_WAIT_INITIAL_S": "0.05",
                                  "ZONA_PSE_RETRY_WAIT_MAX_S": "0.1", "ZONA_PSE_CONNECT_TIMEOUT_S": "1"})
    provider = AchPseProvider(settings)
    with pytest.raises(PseUnavailable):
        provider.query("123")
    # Refused before anything was sent: certainly not created, so "unavailable", not "unknown".
    with pytest.raises(PseUnavailable):
        create(provider, 312)


def test_a_fault_mix_set_through_the_control_endpoint(sandbox, provider) -> None:  # noqa: ANN001
    sandbox.control("mix", {"seed": 7, "lost_create": 1.0})
    with pytest.raises(PseOutcomeUnknown):
        create(provider, 313)
    sandbox.control("mix", {"reject": 1.0})
    assert provider.query(create(provider, 314).cus).state == "NOT_AUTHORIZED"
    sandbox.control("mix", {"late": 1.0})
    cus = create(provider, 315).cus
    assert provider.query(cus).state == "PENDING"
    sandbox.control("mix", {})
    assert provider.query(create(provider, 316).cus).state == "PENDING"  # the page decides again


def test_a_malformed_answer_is_not_an_answer(sandbox, provider) -> None:  # noqa: ANN001
    from integrations.pse import PseError

    plant(sandbox, "createTransactionPayment", "malformed")
    with pytest.raises(PseOutcomeUnknown):
        create(provider, 320)
    assert sandbox.creates_for(320) == ["created"]  # recorded at the bank, and sent once
    cus = sandbox.transaction_for(320)["cus"]
    plant(sandbox, "getTransactionInformation", "malformed")
    with pytest.raises(PseError) as raised:
        provider.query(cus)
    assert not isinstance(raised.value, PseOutcomeUnknown)
    assert provider.query(cus).state == "PENDING"  # the next query reads it
