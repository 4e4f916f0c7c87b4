"""The sandbox reads and writes messages through the WSDL's own schema."""
from __future__ import annotations

import pytest
from lxml import etree

from integrations.pse_sandbox.soap import BINDING, MainServices, SoapFault

SERVICES = MainServices()


def bank_list_request(entity: str = "1") -> bytes:
    service = SERVICES.client.create_service(BINDING, "http://localhost/")
    return etree.tostring(SERVICES.client.create_message(service, "getBankList",
                                                         getBankListInformation={"entityCode": entity}))


def test_a_request_is_read_with_the_operations_message_type() -> None:
    req = SERVICES.parse_request(bank_list_request("890"), '"http://vesta.com.br/pse/MainServices/getBankList"')
    assert req.operation == "getBankList" and req.body.getBankListInformation.entityCode == "890"


def test_an_answer_that_breaks_the_schema_is_not_sent() -> None:
    with pytest.raises(SoapFault):
        # returnCode is an enumeration: ACH has no such code.
        SERVICES.response("finalizeTransactionPayment",
                          finalizeTransactionPaymentResponseInformation={"returnCode": "FAIL_WHATEVER"})


def test_answers_are_written_from_the_wsdl() -> None:
    out = SERVICES.response("finalizeTransactionPayment",
                            finalizeTransactionPaymentResponseInformation={"trazabilityCode": "1", "returnCode": "SUCCESS"})
    root = etree.fromstring(out)
    assert root.find(".//{http://www.uc-council.org/smp/schemas/eanucc}returnCode").text == "SUCCESS"


def test_oversized_and_entity_laden_requests_are_refused() -> None:
    with pytest.raises(SoapFault, match="grande"):
        SERVICES.parse_request(b"<a>" + b"x" * 70000 + b"</a>", None)
    bomb = (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
            b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>&e;</soap:Body>'
            b'</soap:Envelope>')
    with pytest.raises(SoapFault):
        SERVICES.parse_request(bomb, None)
