"""SOAP 1.1 for the sandbox, from ACH's own WSDL: requests are validated against the
WSDL's XML Schema (lxml) and read with zeep's message types; answers are written with
zeep's serializer for the operation's output message and checked against the same
schema before they leave. Only the SOAP Fault (defined by SOAP 1.1, not by the WSDL) is
built here by hand.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from lxml import etree
from zeep import Client
from zeep.wsdl.definitions import Operation

WSDL_PATH = Path(__file__).resolve().parent / "ach" / "MainServices.wsdl"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
WSDL_NS = "http://schemas.xmlsoap.org/wsdl/"
XSD_NS = "http://www.w3.org/2001/XMLSchema"
EANUCC = "http://www.uc-council.org/smp/schemas/eanucc"
SERVICE_NS = "http://vesta.com.br/pse/MainServices"
BINDING = f"{{{SERVICE_NS}}}MainServicesImplSoap"
# Operations the sandbox answers (the merchant side of the protocol).
OPERATIONS = (
    "getBankList",
    "createTransactionPayment",
    "getTransactionInformation",
    "finalizeTransactionPayment",
    "getConciliationFile",
)
MAX_REQUEST_BYTES = 64 * 1024


class SoapFault(Exception):
    """Answered as a SOAP 1.1 Fault with HTTP 500 (what SOAP 1.1 over HTTP requires)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code          # "Client" (the request is wrong) or "Server"
        self.message = message


@dataclass(frozen=True)
class Request:
    operation: str
    body: Any                     # zeep's value for the body element (a CompoundValue)
    header: Any                   # the messageHeader, when sent
    envelope: etree._Element      # kept for WS-Security, which reads the Security header


class MainServices:
    """ACH's MainServices, as its WSDL describes it."""

    def __init__(self, wsdl_path: Path = WSDL_PATH) -> None:
        self.wsdl_path = wsdl_path
        self.client = Client(str(wsdl_path))
        self.binding = self.client.wsdl.bindings[BINDING]

    @cached_property
    def schema(self) -> etree.XMLSchema:
        # The WSDL holds one schema (namespace EAN.UCC) that imports nothing: lxml builds it alone.
        doc = etree.parse(str(self.wsdl_path))
        schema_el = doc.find(f"{{{WSDL_NS}}}types/{{{XSD_NS}}}schema")
        return etree.XMLSchema(etree.fromstring(etree.tostring(schema_el)))

    def operation(self, name: str) -> Operation:
        return self.binding.get(name)

    def operation_for(self, envelope: etree._Element, soap_action: str | None) -> str:
        body = envelope.find(f"{{{SOAP_ENV}}}Body")
        payload = _first_child(body)
        if payload is None:
            raise SoapFault("Client", "El cuerpo SOAP está vacío")
        qname = etree.QName(payload)
        if qname.namespace != EANUCC or qname.localname not in OPERATIONS:
            raise SoapFault("Client", f"Operación desconocida: {qname.text}")
        if soap_action:
            expected = self.operation(qname.localname).soapaction
            if soap_action.strip('"') != expected:
                raise SoapFault("Client", f"SOAPAction {soap_action} no corresponde a {qname.localname}")
        return qname.localname

    def parse_request(self, raw: bytes, soap_action: str | None) -> Request:
        if len(raw) > MAX_REQUEST_BYTES:
            raise SoapFault("Client", "Mensaje demasiado grande")
        try:
            parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
            envelope = etree.fromstring(raw, parser)
        except etree.XMLSyntaxError as exc:
            raise SoapFault("Client", f"XML mal formado: {exc}") from None
        if envelope.tag != f"{{{SOAP_ENV}}}Envelope":
            raise SoapFault("Client", "No es un sobre SOAP 1.1")
        name = self.operation_for(envelope, soap_action)
        body = envelope.find(f"{{{SOAP_ENV}}}Body")
        self.validate(_first_child(body))
        header = envelope.find(f"{{{SOAP_ENV}}}Header")
        if header is not None:
            message_header = header.find(f"{{{EANUCC}}}messageHeader")
            if message_header is not None:
                self.validate(message_header)
        try:
            value = self.operation(name).input.deserialize(envelope)
        except Exception as exc:  # zeep's own checks, after the schema's
            raise SoapFault("Client", f"Mensaje inválido: {exc}") from None
        return Request(name, getattr(value, "body", value), getattr(value, "header", None), envelope)

    def validate(self, element: etree._Element) -> None:
        # A copy: validating in place would judge the element with the envelope's context.
        copy = etree.fromstring(etree.tostring(element))
        if not self.schema.validate(copy):
            error = self.schema.error_log.last_error
            raise SoapFault("Client", f"El mensaje no cumple el esquema del WSDL: {error.message if error else ''}")

    def response(self, name: str, **body: Any) -> bytes:
        serialized = self.operation(name).output.serialize(**body)
        envelope = serialized.content
        payload = _first_child(envelope.find(f"{{{SOAP_ENV}}}Body"))
        # Our own answers must honour the schema as strictly as the requests.
        self.validate(payload)
        return etree.tostring(envelope, xml_declaration=True, encoding="utf-8")


def _first_child(element: etree._Element | None) -> etree._Element | None:
    if element is None:
        return None
    for child in element:
        if isinstance(child.tag, str):
            return child
    return None


def fault(code: str, message: str) -> bytes:
    env = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soap": SOAP_ENV})
    body = etree.SubElement(env, f"{{{SOAP_ENV}}}Body")
    node = etree.SubElement(body, f"{{{SOAP_ENV}}}Fault")
    # faultcode and faultstring are unqualified in SOAP 1.1.
    etree.SubElement(node, "faultcode").text = f"soap:{code}"
    etree.SubElement(node, "faultstring").text = message
    return etree.tostring(env, xml_declaration=True, encoding="utf-8")
