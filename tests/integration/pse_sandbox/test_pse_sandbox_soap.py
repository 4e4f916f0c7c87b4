"""The sandbox speaks ACH's MainServices: every operation through the real client over
real HTTP, the WSDL served, schema-invalid requests refused with a SOAP fault, state kept
across a restart, and the log of every createTransactionPayment by ticketId."""
from __future__ import annotations

import time
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import requests
from lxml import etree

from integrations.pse import CreateRequest
from integrations.pse.ach import AchPseProvider

pytestmark = [pytest.mark.integration, pytest.mark.slow]

WSDL_NS = "http://schemas.xmlsoap.org/wsdl/"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"


def today() -> date:
    return datetime.now(ZoneInfo("America/Bogota")).date()


def create(provider: AchPseProvider, ticket_id: int, bank: str = "1022", amount: str = "38000.00",
           description: str = "Cuota crédito 1-2024") -> object:
    return provider.create(CreateRequest(
        ticket_id=ticket_id, bank_code=bank, amount=Decimal(amount), return_url="http://127.0.0.1:9/pse/retorno",
        references=("10.0.0.7", "CC", "1020304050"), description=description))


def test_the_wsdl_is_acks_own_with_this_address(sandbox) -> None:  # noqa: ANN001
    resp = requests.get(f"{sandbox.soap_url}?wsdl", timeout=5)
    assert resp.status_code == 200
    doc = etree.fromstring(resp.content)
    operations = {op.get("name") for op in doc.iter(f"{{{WSDL_NS}}}operation")}
    assert {"getBankList", "createTransactionPayment", "getTransactionInformation", "finalizeTransactionPayment",
            "getConciliationFile"} <= operations
    assert doc.get("targetNamespace") == "http://vesta.com.br/pse/MainServices"
    addresses = [el.get("location") for el in doc.iter("{http://schemas.xmlsoap.org/wsdl/soap/}address")]
    assert addresses == [sandbox.soap_url]


def test_bank_list_has_acks_placeholder_row_and_the_client_skips_it(sandbox, provider) -> None:  # noqa: ANN001
    raw = provider.service.getBankList(getBankListInformation={"entityCode": provider.settings.entity_code})
    rows = raw.body.getBankListResponseInformation
    assert (rows[0].financialInstitutionCode, rows[0].financialInstitutionName) == ("0", "A continuación seleccione su banco")
    banks = provider.banks()
    assert banks and all(b.code != "0" for b in banks)
    assert ("1292", "CONFIAR COOPERATIVA FINANCIERA") in [(b.code, b.name) for b in banks]
    # Another entity gets no list.
    assert sandbox.provider(ZONA_PSE_ENTITY_CODE="999").banks() == []


def test_create_query_finalize_and_conciliation(sandbox, provider) -> None:  # noqa: ANN001
    created = create(provider, 101, bank="9101", amount="38000.00")
    assert created.ok and created.cus and created.cycle
    assert created.bank_url == f"{sandbox.base}/banco/{created.cus}"
    info = provider.query(created.cus)
    assert (info.return_code, info.state, info.ticket_id, info.amount, info.vat) == (
        "SUCCESS", "OK", 101, Decimal("38000.00"), Decimal("0.00"))
    assert info.bank_process_date == today() and info.cus == created.cus and info.final
    assert provider.finalize(created.cus).return_code == "SUCCESS"
    assert provider.finalize(created.cus).return_code == "SUCCESS"  # idempotent

    pending = create(provider, 102, bank="1022")
    assert provider.query(pending.cus).state == "PENDING"
    assert provider.finalize(pending.cus).return_code == "FAIL_INVALIDSTATE"
    assert provider.query("123456").return_code == "FAIL_INVALIDTRAZABILITYCODE"
    assert provider.finalize("123456").return_code == "FAIL_INVALIDTRAZABILITYCODE"

    result = provider.conciliation(today())
    assert result.return_code == "SUCCESS" and len(result.files) == 1
    lines = result.files[0].content.splitlines()
    assert lines[0].startswith("ticketId;trazabilityCode;")
    assert lines[1:] == [f"101;{created.cus};9101;38000.00;0.00;OK;{today()};{today()};{created.cycle}"]
    assert provider.conciliation(today(), cycle="99").return_code == "FAIL_NOFILESFOUND"
    assert sandbox.provider(ZONA_PSE_ENTITY_CODE="999").conciliation(today()).return_code == "FAIL_ACCESSDENIED"


@pytest.mark.parametrize(("bank", "state"), [("9101", "OK"), ("9102", "NOT_AUTHORIZED"), ("9103", "FAILED")])
def test_test_banks_decide_at_once(sandbox, provider, bank: str, state: str) -> None:  # noqa: ANN001
    assert provider.query(create(provider, 110, bank=bank).cus).state == state


@pytest.mark.parametrize(("bank", "final", "after_s"), [("9104", "OK", 1), ("9105", "NOT_AUTHORIZED", 1),
                                                         ("9106", "OK", 2.5)])
def test_pending_for_a_while_then_decided(sandbox, provider, bank: str, final: str, after_s: float) -> None:  # noqa: ANN001
    cus = create(provider, 120, bank=bank).cus
    assert provider.query(cus).state == "PENDING"
    time.sleep(after_s + 0.3)
    assert provider.query(cus).state == final


def test_business_checks_answer_acks_codes(sandbox, provider) -> None:  # noqa: ANN001
    assert create(provider, 130, amount="0").return_code == "FAIL_INVALIDAMOUNT"
    assert create(provider, 131, bank="4444").return_code == "FAIL_BANKNOTEXISTSORDISABLED"
    assert sandbox.provider(ZONA_PSE_SERVICE_CODE="77").create(CreateRequest(
        ticket_id=132, bank_code="1022", amount=Decimal(1), return_url="http://x/")).return_code == "FAIL_SERVICENOTEXISTS"
    assert provider.create(CreateRequest(ticket_id=133, bank_code="1022", amount=Decimal(1), return_url="http://x/",
                                         solicite_date=date(2020, 1, 1))).return_code == "FAIL_INVALIDSOLICITDATE"
    assert sandbox.control("transactions") == []


def post_raw(sandbox, body: bytes, action: str = "") -> requests.Response:  # noqa: ANN001
    return requests.post(sandbox.soap_url, data=body, timeout=5,
                         headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": action})


def fault_string(resp: requests.Response) -> str:
    assert resp.status_code == 500, resp.text
    node = etree.fromstring(resp.content).find(f"{{{SOAP_ENV}}}Body/{{{SOAP_ENV}}}Fault")
    assert node is not None, resp.text
    return node.findtext("faultstring")


def signed_create_message(provider: AchPseProvider, **changes: str) -> bytes:
    info = {"financialInstitutionCode": "1022", "entityCode": provider.settings.entity_code,
            "serviceCode": provider.settings.service_code,
            "transactionValue": {"_value_1": Decimal("1000.00"), "currencyISOcode": "COP"},
            "ticketId": 140, "entityurl": "http://x/", "userType": "0", "soliciteDate": today()}
    msg = etree.tostring(provider.client.create_message(provider.service, "createTransactionPayment",
                                                        createTransactionPaymentInformation=info))
    for old, new in changes.items():
        msg = msg.replace(old.encode(), new.encode())
    return msg


def test_a_request_that_does_not_validate_gets_a_soap_fault_and_creates_nothing(sandbox, provider) -> None:  # noqa: ANN001
    good = signed_create_message(provider)
    bad_user_type = good.replace(b"<ns0:userType>0<", b"<ns0:userType>7<")
    assert "esquema" in fault_string(post_raw(sandbox, bad_user_type))
    no_date = etree.fromstring(good)
    for el in no_date.iter("{http://www.uc-council.org/smp/schemas/eanucc}soliciteDate"):
        el.getparent().remove(el)
    assert "esquema" in fault_string(post_raw(sandbox, etree.tostring(no_date)))
    not_a_number = good.replace(b"<ns0:ticketId>140<", b"<ns0:ticketId>uno<")
    assert "esquema" in fault_string(post_raw(sandbox, not_a_number))
    assert "XML mal formado" in fault_string(post_raw(sandbox, b"<soap:Envelope"))
    assert "sobre SOAP" in fault_string(post_raw(sandbox, b"<a/>"))
    unknown = good.replace(b"createTransactionPayment", b"stealMoney")
    assert "desconocida" in fault_string(post_raw(sandbox, unknown))
    wrong_action = post_raw(sandbox, signed_create_message(provider),
                            action='"http://vesta.com.br/pse/MainServices/getBankList"')
    assert "SOAPAction" in fault_string(wrong_action)
    assert sandbox.control("transactions") == [] and sandbox.control("creates") == []
    # The same message, valid, goes through.
    ok = post_raw(sandbox, signed_create_message(provider))
    assert ok.status_code == 200 and b"<ns0:returnCode>SUCCESS</ns0:returnCode>" in ok.content


def test_state_and_the_create_log_survive_a_restart(sandbox, provider) -> None:  # noqa: ANN001
    pending = create(provider, 150, bank="1022")
    approved = create(provider, 151, bank="9101")
    replay = signed_create_message(provider, **{"<ns0:ticketId>140<": "<ns0:ticketId>152<"})
    assert post_raw(sandbox, replay).status_code == 200
    sandbox.restart()
    fresh = sandbox.provider()
    assert fresh.query(pending.cus).state == "PENDING"
    assert fresh.query(approved.cus).state == "OK"
    assert [sandbox.creates_for(t) for t in (150, 151, 152)] == [["created"], ["created"], ["created"]]
    # Spent nonces are state too: the same message is still a replay after the restart.
    assert "nonce repetido" in fault_string(post_raw(sandbox, replay))


def test_a_ticket_is_created_once_and_every_create_is_logged(sandbox, provider) -> None:  # noqa: ANN001
    first = create(provider, 160)
    second = create(provider, 160)
    assert first.ok and second.return_code == "FAIL_TRANSACTIONNOTALLOWED" and second.cus is None
    assert sandbox.creates_for(160) == ["created", "duplicate"]
    assert len([t for t in sandbox.control("transactions") if t["ticket_id"] == 160]) == 1
