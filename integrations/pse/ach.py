"""The PSE provider for a direct ACH Colombia connection: zeep over a requests Session
(connect and read time-outs from settings), WS-Security UsernameToken with digest, nonce
and timestamp on every message, optional X.509 signing, and the retry rules of retry.py.
"""
from __future__ import annotations

import logging
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Callable, TypeVar
from zoneinfo import ZoneInfo

import requests
import zeep
from zeep.exceptions import Error as ZeepError
from zeep.exceptions import Fault, TransportError
from zeep.transports import Transport
from zeep.wsse import utils as wsse_utils
from zeep.wsse.compose import Compose
from zeep.wsse.username import UsernameToken

from domain.pse_banks import is_placeholder, selectable
from integrations.pse import retry
from integrations.pse.provider import (SUCCESS, Bank, ConciliationFile, ConciliationResult, CreateRequest,
                                       CreateResult, FinalizeResult, PseError, PseOutcomeUnknown,
                                       PseRejectedRequest, PseUnavailable, TransactionInfo)
from zona_privada.settings import PseSettings

log = logging.getLogger(__name__)
T = TypeVar("T")

BINDING = "{http://vesta.com.br/pse/MainServices}MainServicesImplSoap"
BOGOTA = ZoneInfo("America/Bogota")


class FreshUsernameToken:
    """A new UsernameToken (digest, random nonce, Created now) and wsu:Timestamp per
    message: zeep's UsernameToken keeps a Timestamp element it is given, which would go
    stale (and be moved from one envelope to the next) if shared between calls."""

    def __init__(self, username: str, password: str, ttl_s: int) -> None:
        self.username = username
        self.password = password
        self.ttl_s = ttl_s

    def apply(self, envelope: Any, headers: Any) -> Any:
        now = datetime.now(timezone.utc).replace(microsecond=0)
        timestamp = wsse_utils.WSU.Timestamp(
            wsse_utils.WSU.Created(now.isoformat().replace("+00:00", "Z")),
            wsse_utils.WSU.Expires((now + timedelta(seconds=self.ttl_s)).isoformat().replace("+00:00", "Z")),
        )
        token = UsernameToken(self.username, self.password, use_digest=True, timestamp_token=timestamp,
                              zulu_timestamp=True)
        return token.apply(envelope, headers)

    def verify(self, envelope: Any) -> Any:
        return envelope


def signer(settings: PseSettings) -> Any | None:
    """X.509 signing of each message (zeep + xmlsec) when settings name a key and cert."""
    if not (settings.cert_file and settings.key_file):
        return None
    from zeep.wsse.signature import Signature  # needs xmlsec, only then

    class SignOnly(Signature):  # type: ignore[misc]
        # The answers are checked only when ACH's own certificate is configured, which
        # the sandbox (it does not sign) has no use for.
        def verify(self, envelope: Any) -> Any:
            return envelope

    return SignOnly(settings.key_file, settings.cert_file, settings.key_password or None)


class AchPseProvider:
    def __init__(self, settings: PseSettings, session: requests.Session | None = None) -> None:
        self.settings = settings
        self.session = session or requests.Session()
        transport = Transport(session=self.session, timeout=settings.read_timeout_s,
                              operation_timeout=(settings.connect_timeout_s, settings.read_timeout_s))
        token = FreshUsernameToken(settings.username, settings.password, settings.wsse_window_s)
        sign = signer(settings)
        # Signing comes last so that the signature covers the finished Security header.
        wsse: Any = Compose([token, sign]) if sign is not None else token
        self.client = zeep.Client(str(settings.wsdl_path), transport=transport, wsse=wsse)
        self.service = self.client.create_service(BINDING, settings.url)

    # --- the calls ----------------------------------------------------------------------
    def banks(self) -> list[Bank]:
        result = self._query("getBankList", lambda: self.service.getBankList(
            getBankListInformation={"entityCode": self.settings.entity_code}, _soapheaders=self._header()))
        rows = _body(result).getBankListResponseInformation or []
        return [Bank(code=b.code, name=b.name)
                for b in selectable((r.financialInstitutionCode, r.financialInstitutionName) for r in rows)]

    def create(self, request: CreateRequest) -> CreateResult:
        if is_placeholder(request.bank_code):
            raise ValueError("código de banco inválido")
        solicite = request.solicite_date or datetime.now(BOGOTA).date()
        info = {
            "financialInstitutionCode": request.bank_code,
            "entityCode": self.settings.entity_code,
            "serviceCode": self.settings.service_code,
            "transactionValue": {"_value_1": _money(request.amount), "currencyISOcode": request.currency},
            "vatValue": {"_value_1": _money(request.vat), "currencyISOcode": request.currency},
            "ticketId": request.ticket_id,
            "entityurl": request.return_url,
            "userType": request.user_type,
            "referenceNumber": list(request.references),
            "soliciteDate": solicite,
            "paymentDescription": request.description or None,
        }

        def send() -> CreateResult:
            try:
                result = self.service.createTransactionPayment(createTransactionPaymentInformation=info,
                                                               _soapheaders=self._header())
            except Fault as exc:
                if (exc.code or "").endswith("Client"):
                    raise PseRejectedRequest(f"createTransactionPayment: {exc.message}") from exc
                # A server-side fault may come after the bank was told: not a safe "no".
                raise PseOutcomeUnknown(f"createTransactionPayment: fallo del servidor: {exc.message}") from exc
            except TransportError as exc:
                if retry.http_5xx(exc):
                    raise  # a front end failing before any work; retried by the policy
                raise PseOutcomeUnknown(f"createTransactionPayment: respuesta ilegible ({exc})") from exc
            except requests.RequestException as exc:
                if retry.never_sent(exc):
                    raise
                raise PseOutcomeUnknown(f"createTransactionPayment: respuesta perdida ({exc!r})") from exc
            except ZeepError as exc:
                raise PseOutcomeUnknown(f"createTransactionPayment: respuesta inválida ({exc})") from exc
            body = _body(result).createTransactionPaymentResponseInformation
            if body is None or not body.returnCode:
                raise PseOutcomeUnknown("createTransactionPayment: respuesta sin código")
            out = CreateResult(return_code=body.returnCode, cus=body.trazabilityCode, bank_url=body.bankurl,
                               cycle=body.transactionCycle)
            if out.ok and not (out.cus and out.bank_url):
                raise PseOutcomeUnknown("createTransactionPayment: SUCCESS sin CUS o sin bankurl")
            return out

        try:
            return retry.call(self.settings, send, idempotent=False, operation="createTransactionPayment")
        except (requests.RequestException, TransportError) as exc:
            # Only errors that prove nothing was sent get here (the rest became unknown above).
            raise PseUnavailable(f"createTransactionPayment: PSE no disponible ({exc!r})") from exc

    def query(self, cus: str) -> TransactionInfo:
        result = self._query("getTransactionInformation", lambda: self.service.getTransactionInformation(
            getTransactionInformationBody={"entityCode": self.settings.entity_code, "trazabilityCode": cus},
            _soapheaders=self._header()), make=lambda r: _info(_body(r).getTransactionInformationResponseBody))
        return result  # type: ignore[no-any-return]

    def finalize(self, cus: str) -> FinalizeResult:
        def make(r: Any) -> FinalizeResult:
            body = _body(r).finalizeTransactionPaymentResponseInformation
            if body is None:
                raise PseError("finalizeTransactionPayment: respuesta vacía")
            return FinalizeResult(return_code=body.returnCode, cus=body.trazabilityCode)
        return self._query("finalizeTransactionPayment", lambda: self.service.finalizeTransactionPayment(
            finalizeTransactionPaymentInformation={"entityCode": self.settings.entity_code, "trazabilityCode": cus},
            _soapheaders=self._header()), make=make)  # type: ignore[no-any-return]

    def conciliation(self, day: date, cycle: str | None = None) -> ConciliationResult:
        def make(r: Any) -> ConciliationResult:
            body = _body(r)
            files = tuple(ConciliationFile(name=f.fileName or "", content=f.fileContent or "")
                          for f in (body.files or []))
            return ConciliationResult(return_code=body.returnCode, files=files)
        return self._query("getConciliationFile", lambda: self.service.getConciliationFile(
            getConciliationFileInformation={"entityOrBankCode": self.settings.entity_code, "date": day,
                                            "cycle": cycle}, _soapheaders=self._header()),
            make=make)  # type: ignore[no-any-return]

    # --- helpers ------------------------------------------------------------------------
    def _header(self) -> dict[str, Any]:
        party = {"alternatePartyIdentification": {"_value_1": self.settings.entity_code, "type": "SELLER_ASSIGNED"}}
        return {"messageHeader": {"from": party, "representingParty": party}}

    def _query(self, operation: str, fn: Callable[[], Any], make: Callable[[Any], T] | None = None) -> Any:
        """Idempotent calls: read time-outs and cut connections are retried too."""
        def attempt() -> Any:
            try:
                raw = fn()
            except Fault as exc:
                raise PseRejectedRequest(f"{operation}: {exc.message}") from exc
            except TransportError:
                raise
            except ZeepError as exc:
                raise PseError(f"{operation}: respuesta inválida ({exc})") from exc
            try:
                return make(raw) if make else raw
            except (AttributeError, TypeError, ValueError) as exc:
                raise PseError(f"{operation}: respuesta inesperada ({exc})") from exc
        try:
            return retry.call(self.settings, attempt, idempotent=True, operation=operation)
        except TransportError as exc:
            if retry.http_5xx(exc):
                raise PseUnavailable(f"{operation}: PSE no disponible ({exc})") from exc
            raise PseError(f"{operation}: respuesta ilegible ({exc})") from exc
        except requests.RequestException as exc:
            raise PseUnavailable(f"{operation}: PSE no disponible ({exc!r})") from exc


def _body(result: Any) -> Any:
    # With a soap:header in the output, zeep returns the whole envelope (body + header).
    return getattr(result, "body", result)


def _money(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"))


def _amount(value: Any) -> Decimal | None:
    return Decimal(value._value_1) if value is not None and value._value_1 is not None else None


def _info(body: Any) -> TransactionInfo:
    if body is None or not body.returnCode:
        raise ValueError("getTransactionInformation sin cuerpo")
    if body.returnCode != SUCCESS:
        return TransactionInfo(return_code=body.returnCode)
    return TransactionInfo(
        return_code=body.returnCode, state=body.transactionState, cus=body.trazabilityCode,
        ticket_id=int(body.ticketId) if body.ticketId is not None else None, entity_code=body.entityCode,
        amount=_amount(body.transactionValue), vat=_amount(body.vatValue), solicite_date=body.soliciteDate,
        bank_process_date=body.bankProcessDate, cycle=body.transactionCycle)
