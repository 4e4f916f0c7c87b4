"""WS-Security on the sandbox (digest, nonce, timestamp) and the bank's page."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
import requests
import zeep
from lxml import etree
from zeep.exceptions import Fault
from zeep.transports import Transport
from zeep.wsse.username import UsernameToken

from integrations.pse import CreateRequest, PseRejectedRequest
from integrations.pse.ach import BINDING

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def bare_client(sandbox, wsse) -> tuple[zeep.Client, object]:  # noqa: ANN001
    """zeep with a WS-Security object of the test's choosing (not the project's client)."""
    settings = sandbox.settings()
    client = zeep.Client(str(settings.wsdl_path), transport=Transport(operation_timeout=5), wsse=wsse)
    return client, client.create_service(BINDING, sandbox.soap_url)


def bank_list(sandbox, wsse) -> object:  # noqa: ANN001
    client, service = bare_client(sandbox, wsse)
    return service.getBankList(getBankListInformation={"entityCode": sandbox.settings().entity_code})


def test_zeeps_own_username_token_with_digest_is_accepted(sandbox) -> None:  # noqa: ANN001
    s = sandbox.settings()
    result = bank_list(sandbox, UsernameToken(s.username, s.password, use_digest=True))
    assert len(result.body.getBankListResponseInformation) > 3


@pytest.mark.parametrize(("wsse", "why"), [
    (None, "falta la cabecera Security"),
    ("plain", "PasswordDigest"),
    ("wrong-password", "resumen"),
    ("wrong-user", "resumen"),
    ("stale", "fuera de la ventana"),
    ("future", "fuera de la ventana"),
])
def test_bad_credentials_are_refused_with_a_fault(sandbox, wsse: str | None, why: str) -> None:  # noqa: ANN001
    s = sandbox.settings()
    token = {
        None: None,
        "plain": UsernameToken(s.username, s.password),
        "wrong-password": UsernameToken(s.username, "otra", use_digest=True),
        "wrong-user": UsernameToken("intruso", s.password, use_digest=True),
        "stale": UsernameToken(s.username, s.password, use_digest=True,
                               created=datetime.now(timezone.utc) - timedelta(seconds=s.wsse_window_s + 30)),
        "future": UsernameToken(s.username, s.password, use_digest=True,
                                created=datetime.now(timezone.utc) + timedelta(seconds=s.wsse_window_s + 30)),
    }[wsse]
    with pytest.raises(Fault) as raised:
        bank_list(sandbox, token)
    assert why in raised.value.message
    # The project's client reports it as a refused request, and does not retry it.
    bad = sandbox.provider(ZONA_PSE_PASSWORD="otra")
    with pytest.raises(PseRejectedRequest):
        bad.query("123")


def test_a_replayed_message_is_refused(sandbox, provider) -> None:  # noqa: ANN001
    msg = etree.tostring(provider.client.create_message(
        provider.service, "getBankList", getBankListInformation={"entityCode": provider.settings.entity_code}))
    headers = {"Content-Type": "text/xml; charset=utf-8",
               "SOAPAction": '"http://vesta.com.br/pse/MainServices/getBankList"'}
    first = requests.post(sandbox.soap_url, data=msg, headers=headers, timeout=5)
    again = requests.post(sandbox.soap_url, data=msg, headers=headers, timeout=5)
    assert first.status_code == 200 and b"getBankListResponse" in first.content
    assert again.status_code == 500 and "nonce repetido" in again.text
    # A fixed nonce sent twice by zeep itself is the same replay.
    s = sandbox.settings()
    token = UsernameToken(s.username, s.password, use_digest=True, nonce="siempre-el-mismo")
    bank_list(sandbox, token)
    with pytest.raises(Fault, match="nonce repetido"):
        bank_list(sandbox, token)


def start_payment(provider, ticket_id: int, description: str = "Cuota") -> str:  # noqa: ANN001
    created = provider.create(CreateRequest(ticket_id=ticket_id, bank_code="1022", amount=Decimal("38000"),
                                            return_url="http://127.0.0.1:9/pse/retorno?ticket=%d" % ticket_id,
                                            description=description))
    assert created.ok
    return created.bank_url


@pytest.mark.parametrize(("button", "state"), [("aprobar", "OK"), ("rechazar", "NOT_AUTHORIZED"),
                                                ("pendiente", "PENDING")])
def test_the_bank_page_decides_and_returns_to_entityurl(sandbox, provider, button: str, state: str) -> None:  # noqa: ANN001
    url = start_payment(provider, 200)
    page = requests.get(url, timeout=5)
    assert page.status_code == 200
    for label in ("Aprobar pago", "Rechazar pago", "Dejar pendiente", "38,000.00"):
        assert label in page.text
    answer = requests.post(url, data={"accion": button}, allow_redirects=False, timeout=5)
    assert answer.status_code == 303
    assert answer.headers["Location"] == "http://127.0.0.1:9/pse/retorno?ticket=200"
    cus = url.rsplit("/", 1)[1]
    assert provider.query(cus).state == state


def test_a_decided_payment_cannot_be_decided_again_and_bad_input_changes_nothing(sandbox, provider) -> None:  # noqa: ANN001
    url = start_payment(provider, 210, description="<script>alert(1)</script>")
    cus = url.rsplit("/", 1)[1]
    assert "<script>alert" not in requests.get(url, timeout=5).text
    assert requests.post(url, data={"accion": "robar"}, allow_redirects=False, timeout=5).status_code == 400
    assert provider.query(cus).state == "PENDING"
    requests.post(url, data={"accion": "rechazar"}, allow_redirects=False, timeout=5)
    requests.post(url, data={"accion": "aprobar"}, allow_redirects=False, timeout=5)
    assert provider.query(cus).state == "NOT_AUTHORIZED"
    assert "ya fue procesada" in requests.get(url, timeout=5).text
    assert requests.get(f"{sandbox.base}/banco/999999", timeout=5).status_code == 404
    assert requests.get(f"{sandbox.base}/banco/abc", timeout=5).status_code == 404
