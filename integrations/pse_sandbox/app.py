"""The PSE sandbox: a Flask service that stands in for ACH Colombia's MainServices
(DESIGN §5). SOAP at /PSEWebServices3/MainServices.asmx (the WSDL at ?wsdl), the bank's
page at /banco/<CUS>, and a JSON control endpoint at /_control/ that only the sandbox has.

Test banks (bank code -> behaviour) make every fault reachable without the control
endpoint; the control endpoint plants one-off faults or a random fault mix.
"""
from __future__ import annotations

import logging
import random
import secrets
import socket
import struct
import time
from datetime import date, datetime
from zoneinfo import ZoneInfo
from decimal import Decimal
from pathlib import Path
from typing import Any

from flask import Flask, Response, abort, jsonify, redirect, render_template_string, request

from integrations.pse_sandbox.soap import MainServices, Request, SoapFault, fault
from integrations.pse_sandbox.store import FINAL_STATES, Store, Transaction
from integrations.pse_sandbox.wsse_check import verify_signature, verify_username_token
from zona_privada.settings import PseSettings, load_pse_settings

log = logging.getLogger("pse_sandbox")

BOGOTA = ZoneInfo("America/Bogota")
SOAP_PATH = "/PSEWebServices3/MainServices.asmx"
PLACEHOLDER = ("0", "A continuación seleccione su banco")

# code, name, behaviour. "page": the person at the bank page decides.
BANKS: tuple[tuple[str, str, str], ...] = (
    ("1022", "BANCO UNIÓN COLOMBIANO", "page"),
    ("1292", "CONFIAR COOPERATIVA FINANCIERA", "page"),
    ("1066", "BANCO COOPERATIVO COOPCENTRAL", "page"),
    ("9101", "BANCO PRUEBAS APRUEBA", "approve"),
    ("9102", "BANCO PRUEBAS RECHAZA", "reject"),
    ("9103", "BANCO PRUEBAS FALLA", "failed"),
    ("9104", "BANCO PRUEBAS PENDIENTE Y APRUEBA", "pending_then_approve"),
    ("9105", "BANCO PRUEBAS PENDIENTE Y RECHAZA", "pending_then_reject"),
    ("9106", "BANCO PRUEBAS APROBACION TARDIA", "late"),
    ("9107", "BANCO PRUEBAS LENTO", "slow"),
    ("9108", "BANCO PRUEBAS SIN RESPUESTA", "timeout"),
    ("9109", "BANCO PRUEBAS RESPUESTA PERDIDA", "lost_create"),
    ("9110", "BANCO PRUEBAS ERROR 500", "http_500"),
    ("9111", "BANCO PRUEBAS NO DISPONIBLE", "fail:FAIL_BANKUNREACHEABLE"),
    ("9112", "BANCO PRUEBAS OCUPADO", "fail:FAIL_TIMEOUT"),
)
BANK_BY_CODE = {code: (name, behaviour) for code, name, behaviour in BANKS}

BANK_PAGE = """<!doctype html>
<html lang="es-CO"><head><meta charset="utf-8"><title>{{ bank }} - Pago PSE</title></head>
<body>
<h1>{{ bank }}</h1>
<p>Banco de pruebas del sandbox PSE. Pago solicitado por la entidad {{ tx.entity_code }}.</p>
<dl>
  <dt>CUS</dt><dd id="cus">{{ tx.cus }}</dd>
  <dt>Valor</dt><dd id="valor">$ {{ amount }}</dd>
  <dt>Descripción</dt><dd>{{ tx.description }}</dd>
  <dt>Estado</dt><dd id="estado">{{ tx.state }}</dd>
</dl>
{% if tx.state == "PENDING" %}
<form method="post">
  <button type="submit" name="accion" value="aprobar">Aprobar pago</button>
  <button type="submit" name="accion" value="rechazar">Rechazar pago</button>
  <button type="submit" name="accion" value="pendiente">Dejar pendiente</button>
</form>
{% else %}
<p>Esta transacción ya fue procesada.</p>
<a href="{{ tx.entityurl }}">Regresar al comercio</a>
{% endif %}
</body></html>
"""

ACTIONS = {"aprobar": "OK", "rechazar": "NOT_AUTHORIZED", "pendiente": "PENDING"}


class DropConnection(Exception):
    """The answer is lost on the way back: the connection is cut after the work is done."""


def now_bogota() -> datetime:
    return datetime.now(BOGOTA)


def today() -> date:
    # ACH's dates (soliciteDate, bankProcessDate, the conciliation file's) are Colombian.
    return now_bogota().date()


def cycle_now() -> str:
    # ACH settles in cycles through the day; the sandbox numbers them by three-hour bands.
    return str(now_bogota().hour // 3 + 1)


def create_app(state_dir: Path | str | None = None, settings: PseSettings | None = None) -> Flask:
    settings = settings or load_pse_settings()
    state_path = Path(state_dir) if state_dir else Path("var") / "pse_sandbox"
    store = Store(state_path)
    services = MainServices()
    app = Flask(__name__)
    app.config["PSE_STORE"] = store

    def timing(name: str) -> float:
        return float(store.control(f"timing:{name}", getattr(settings, f"sandbox_{name}")))

    def mix() -> dict[str, float]:
        return store.control("mix", {})  # type: ignore[no-any-return]

    def roll(name: str) -> bool:
        rate = float(mix().get(name, 0))
        return rate > 0 and random.random() < rate

    # --- SOAP -------------------------------------------------------------------------
    @app.get(SOAP_PATH)
    def wsdl() -> Response:
        if "wsdl" not in {k.lower() for k in request.args}:
            abort(404)
        text = services.wsdl_path.read_text(encoding="utf-8")
        # The published WSDL leaves the address for each installation to fill in.
        text = text.replace("ACH_SERVICE_URL/PSEWebServices3/mainservices.asmx", request.base_url)
        return Response(text, mimetype="text/xml")

    @app.post(SOAP_PATH)
    def soap() -> Response:
        try:
            req = services.parse_request(request.get_data(cache=False), request.headers.get("SOAPAction"))
            if settings.sandbox_client_cert:
                verify_signature(req.envelope, settings.sandbox_client_cert)
            verify_username_token(req.envelope, username=settings.username, password=settings.password,
                                  window_s=settings.wsse_window_s,
                                  remember_nonce=lambda n: store.remember_nonce(n, 3 * settings.wsse_window_s))
            body = handle(req)
        except SoapFault as exc:
            log.info("SOAP fault: %s", exc.message)
            return Response(fault(exc.code, exc.message), status=500, mimetype="text/xml")
        except DropConnection:
            drop_connection()
            return Response(b"", status=200)
        return Response(body, mimetype="text/xml")

    def drop_connection() -> None:
        sock = request.environ.get("werkzeug.socket")
        if isinstance(sock, socket.socket):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.shutdown(socket.SHUT_RDWR)

    def planted(operation: str) -> dict[str, Any] | None:
        planted_fault = store.take_fault(operation)
        if planted_fault:
            return planted_fault
        if roll("http_5xx"):
            return {"mode": "http_503"}
        if roll("timeout"):
            return {"mode": "timeout"}
        if operation == "createTransactionPayment" and roll("lost_create"):
            return {"mode": "lost_create"}
        return None

    def handle(req: Request) -> bytes:
        transport_fault = planted(req.operation)
        mode = transport_fault["mode"] if transport_fault else ""
        if mode.startswith("http_"):
            # Before any work: a front end failing (nothing recorded).
            raise HttpStatusError(int(mode.split("_")[1]))
        if mode == "fail":
            return fail_answer(req.operation, transport_fault["code"])  # type: ignore[index]
        if mode == "fault":
            raise SoapFault("Server", "Error interno del servicio")
        if mode == "slow":
            time.sleep(float(transport_fault.get("delay_s", timing("slow_s"))))  # type: ignore[union-attr]
        answer = OPERATIONS[req.operation](req, mode)
        if mode == "timeout":
            # The work is done (a create is recorded), the answer comes too late to be read.
            time.sleep(float(transport_fault.get("delay_s", timing("hang_s"))))  # type: ignore[union-attr]
        if mode == "lost_create":
            raise DropConnection()
        if mode == "malformed":
            # The work is done, the answer arrives cut short (a broken proxy, a bad deploy).
            return answer[: len(answer) // 2]
        return answer

    def fail_answer(operation: str, code: str) -> bytes:
        if operation == "createTransactionPayment":
            return services.response(operation, createTransactionPaymentResponseInformation={"returnCode": code})
        if operation == "getTransactionInformation":
            return services.response(operation, getTransactionInformationResponseBody={
                "soliciteDate": today(), "bankProcessDate": today(), "transactionState": "FAILED",
                "returnCode": code})
        if operation == "finalizeTransactionPayment":
            return services.response(operation, finalizeTransactionPaymentResponseInformation={"returnCode": code})
        if operation == "getConciliationFile":
            return services.response(operation, files=[], returnCode=code)
        raise SoapFault("Server", "Error interno del servicio")

    def get_bank_list(req: Request, mode: str) -> bytes:
        info = req.body.getBankListInformation if req.body is not None else None
        if info is None or info.entityCode != settings.entity_code:
            return services.response("getBankList", getBankListResponseInformation=[])
        rows = [PLACEHOLDER] + [(code, name) for code, name, _ in BANKS]
        return services.response("getBankList", getBankListResponseInformation=[
            {"financialInstitutionCode": code, "financialInstitutionName": name} for code, name in rows])

    def create(req: Request, mode: str) -> bytes:
        info = req.body.createTransactionPaymentInformation if req.body is not None else None
        if info is None:
            raise SoapFault("Client", "Falta createTransactionPaymentInformation")

        def answer(code: str, tx: Transaction | None = None) -> bytes:
            out: dict[str, Any] = {"returnCode": code}
            if tx is not None:
                out.update(trazabilityCode=tx.cus, bankurl=f"{request.host_url}banco/{tx.cus}",
                           transactionCycle=tx.cycle)
            return services.response("createTransactionPayment", createTransactionPaymentResponseInformation=out)

        ticket_id = info.ticketId
        bank = BANK_BY_CODE.get(info.financialInstitutionCode or "")
        behaviour = bank[1] if bank else ""
        if behaviour == "http_500":
            with_log(ticket_id, "http_500")
            raise HttpStatusError(500)
        if behaviour.startswith("fail:"):
            code = behaviour.split(":", 1)[1]
            with_log(ticket_id, code)
            return answer(code)
        checks = (
            (info.entityCode != settings.entity_code, "FAIL_ENTITYNOTEXISTSORDISABLED"),
            (bank is None, "FAIL_BANKNOTEXISTSORDISABLED"),
            (info.serviceCode != settings.service_code, "FAIL_SERVICENOTEXISTS"),
            (info.transactionValue is None or ticket_id is None or info.transactionValue._value_1 is None
             or info.transactionValue._value_1 <= 0, "FAIL_INVALIDAMOUNT"),
            (abs((info.soliciteDate - today()).days) > 1, "FAIL_INVALIDSOLICITDATE"),
            (not info.entityurl or not str(info.entityurl).startswith(("http://", "https://")),
             "FAIL_TRANSACTIONNOTALLOWED"),
        )
        for failed, code in checks:
            if failed:
                with_log(ticket_id, code)
                return answer(code)
        if behaviour == "slow":
            time.sleep(timing("slow_s"))

        vat = info.vatValue._value_1 if info.vatValue is not None and info.vatValue._value_1 is not None else Decimal(0)
        tx = Transaction(
            cus=f"{int(time.time()) % 10**8:08d}{secrets.randbelow(10**8):08d}",
            ticket_id=int(ticket_id), bank_code=info.financialInstitutionCode, entity_code=info.entityCode,
            service_code=info.serviceCode, amount=Decimal(info.transactionValue._value_1), vat=Decimal(vat),
            currency=info.transactionValue.currencyISOcode or "COP", entityurl=info.entityurl,
            user_type=info.userType, refs=list(info.referenceNumber or []),
            description=info.paymentDescription or "", solicite_date=info.soliciteDate.isoformat(),
            cycle=cycle_now(), created_at=time.time(), state="PENDING", decide_at=None, decide_state=None,
            bank_process_date=None, finalized=False, in_conciliation=True)

        def record(db: Any) -> Transaction | None:
            existing = store.by_ticket(db, tx.ticket_id)
            if existing is not None:
                store.log_create(db, tx.ticket_id, "duplicate", existing.cus)
                return None
            store.insert(db, tx)
            store.log_create(db, tx.ticket_id, "created", tx.cus)
            return tx
        if store.atomically(record) is None:
            # ACH refuses a second transaction for a ticket it already has.
            return answer("FAIL_TRANSACTIONNOTALLOWED")
        schedule_outcome(tx, behaviour, mode)
        if behaviour == "timeout":
            time.sleep(timing("hang_s"))  # recorded and approved; the answer comes too late
        if behaviour == "lost_create":
            raise DropConnection()
        return answer("SUCCESS", tx)

    def schedule_outcome(tx: Transaction, behaviour: str, mode: str) -> None:
        outcome = behaviour
        if behaviour == "page" and mix():
            # Under a fault mix nobody clicks: each payment draws its outcome.
            draw, outcome = random.random(), "approve"
            for name in ("pending_then_approve", "pending_then_reject", "reject", "late"):
                rate = float(mix().get(name, 0))
                if draw < rate:
                    outcome = name
                    break
                draw -= rate
        if mode in ("lost_create", "timeout") or behaviour in ("lost_create", "timeout"):
            outcome = "approve"  # the bank approves while the merchant never hears the create's answer
        states = {"approve": "OK", "reject": "NOT_AUTHORIZED", "failed": "FAILED"}
        if outcome in states:
            store.decide(tx.cus, states[outcome])
        elif outcome == "pending_then_approve":
            store.schedule(tx.cus, timing("pending_s"), "OK")
        elif outcome == "pending_then_reject":
            store.schedule(tx.cus, timing("pending_s"), "NOT_AUTHORIZED")
        elif outcome == "late":
            store.schedule(tx.cus, timing("late_s"), "OK")

    def with_log(ticket_id: int | None, outcome: str) -> None:
        store.atomically(lambda db: store.log_create(db, ticket_id, outcome))

    def transaction_for(entity_code: str | None, cus: str | None) -> Transaction | None:
        if not cus or entity_code != settings.entity_code:
            return None
        tx = store.get(cus)
        return tx if tx is not None and tx.entity_code == entity_code else None

    def get_information(req: Request, mode: str) -> bytes:
        body = req.body.getTransactionInformationBody if req.body is not None else None
        tx = transaction_for(body.entityCode, body.trazabilityCode) if body is not None else None
        day = today()
        if tx is None:
            return services.response("getTransactionInformation", getTransactionInformationResponseBody={
                "soliciteDate": day, "bankProcessDate": day, "transactionState": "FAILED",
                "returnCode": "FAIL_INVALIDTRAZABILITYCODE"})
        if BANK_BY_CODE.get(tx.bank_code, ("", ""))[1] == "slow":
            time.sleep(timing("slow_s"))
        return services.response("getTransactionInformation", getTransactionInformationResponseBody={
            "ticketId": tx.ticket_id, "trazabilityCode": tx.cus, "entityCode": tx.entity_code,
            "transactionValue": {"_value_1": tx.amount, "currencyISOcode": tx.currency},
            "vatValue": {"_value_1": tx.vat, "currencyISOcode": tx.currency},
            "soliciteDate": date.fromisoformat(tx.solicite_date),
            "bankProcessDate": date.fromisoformat(tx.bank_process_date) if tx.bank_process_date else day,
            "transactionCycle": tx.cycle, "transactionState": tx.state, "returnCode": "SUCCESS"})

    def finalize(req: Request, mode: str) -> bytes:
        info = req.body.finalizeTransactionPaymentInformation if req.body is not None else None
        tx = transaction_for(info.entityCode, info.trazabilityCode) if info is not None else None
        if tx is None:
            code, cus = "FAIL_INVALIDTRAZABILITYCODE", info.trazabilityCode if info is not None else None
        elif tx.state not in FINAL_STATES:
            code, cus = "FAIL_INVALIDSTATE", tx.cus
        else:
            # Idempotent: finalizing twice answers SUCCESS again.
            store.set_finalized(tx.cus)
            code, cus = "SUCCESS", tx.cus
        return services.response("finalizeTransactionPayment",
                                 finalizeTransactionPaymentResponseInformation={"trazabilityCode": cus, "returnCode": code})

    def conciliation(req: Request, mode: str) -> bytes:
        info = req.body.getConciliationFileInformation if req.body is not None else None
        if info is None or info.entityOrBankCode != settings.entity_code:
            return services.response("getConciliationFile", files=[], returnCode="FAIL_ACCESSDENIED")
        day = info.date.isoformat()
        lines = []
        for tx in store.all():
            if not tx.in_conciliation or tx.bank_process_date != day or tx.state not in FINAL_STATES:
                continue
            if info.cycle and tx.cycle != info.cycle:
                continue
            lines.append(conciliation_line(tx.ticket_id, tx.cus, tx.bank_code, tx.amount, tx.vat, tx.state,
                                           tx.solicite_date, day, tx.cycle))
        lines += store.conciliation_extra(day)
        if not lines:
            return services.response("getConciliationFile", files=[], returnCode="FAIL_NOFILESFOUND")
        header = "ticketId;trazabilityCode;financialInstitutionCode;transactionValue;vatValue;transactionState;" \
                 "soliciteDate;bankProcessDate;transactionCycle"
        name = f"conciliacion_{settings.entity_code}_{day}_{info.cycle or 'todos'}.csv"
        return services.response("getConciliationFile", files=[{"fileName": name,
                                                                "fileContent": "\n".join([header, *lines])}],
                                 returnCode="SUCCESS")

    OPERATIONS = {
        "getBankList": get_bank_list,
        "createTransactionPayment": create,
        "getTransactionInformation": get_information,
        "finalizeTransactionPayment": finalize,
        "getConciliationFile": conciliation,
    }

    @app.errorhandler(413)
    def too_large(_exc: Exception) -> Response:
        return Response(fault("Client", "Mensaje demasiado grande"), status=500, mimetype="text/xml")

    @app.errorhandler(HttpStatusError)
    def http_status(exc: HttpStatusError) -> Response:
        return Response(f"Error {exc.status} del servicio", status=exc.status, mimetype="text/plain")

    # --- the bank's page ---------------------------------------------------------------
    @app.route("/banco/<cus>", methods=["GET", "POST"])
    def bank_page(cus: str) -> Any:
        tx = store.get(cus) if cus.isdigit() and len(cus) <= 40 else None
        if tx is None:
            return Response("Transacción no encontrada", status=404, mimetype="text/plain")
        if request.method == "POST":
            state = ACTIONS.get(request.form.get("accion", ""))
            if state is None:
                return Response("Acción no válida", status=400, mimetype="text/plain")
            store.decide(cus, state)
            return redirect(tx.entityurl, code=303)
        name = BANK_BY_CODE.get(tx.bank_code, ("Banco",))[0]
        return render_template_string(BANK_PAGE, tx=tx, bank=name, amount=f"{tx.amount:,.2f}")

    # --- control (sandbox only) ---------------------------------------------------------
    @app.get("/_control/creates")
    def control_creates() -> Response:
        return jsonify(store.create_log())

    @app.get("/_control/transactions")
    def control_transactions() -> Response:
        return jsonify([tx.public() for tx in store.all()])

    @app.get("/_control/faults")
    def control_faults_left() -> Response:
        return jsonify(store.control("faults", []))

    @app.post("/_control/faults")
    def control_faults() -> Any:
        data = request.get_json(silent=True) or {}
        if data.get("mode") not in ("slow", "timeout", "lost_create", "malformed", "fail", "fault",
                                    "http_500", "http_502", "http_503", "http_504"):
            return jsonify(error="modo desconocido"), 400
        faults = store.control("faults", [])
        faults.append({k: data[k] for k in ("operation", "mode", "times", "delay_s", "code") if k in data})
        store.set_control("faults", faults)
        return jsonify(faults=faults)

    @app.post("/_control/mix")
    def control_mix() -> Response:
        data = request.get_json(silent=True) or {}
        if "seed" in data:
            random.seed(data.pop("seed"))
        store.set_control("mix", {k: float(v) for k, v in data.items()})
        return jsonify(mix=mix())

    @app.post("/_control/timing")
    def control_timing() -> Response:
        data = request.get_json(silent=True) or {}
        for name in ("pending_s", "late_s", "slow_s", "hang_s"):
            if name in data:
                store.set_control(f"timing:{name}", float(data[name]))
        return jsonify(ok=True)

    @app.post("/_control/transactions/<cus>")
    def control_patch(cus: str) -> Any:
        data = request.get_json(silent=True) or {}
        # {"state": ..., "amount": ..., "in_conciliation": false} plants a mismatch;
        # {"decide_after_s": 5, "decide_state": "OK"} keeps it PENDING that long, then decides.
        states = ("OK", "NOT_AUTHORIZED", "PENDING", "FAILED")
        if data.get("state", "OK") not in states or data.get("decide_state", "OK") not in states:
            return jsonify(error="estado desconocido"), 400
        if store.get(cus) is None:
            return jsonify(error="no encontrada"), 404
        if "decide_after_s" in data:
            store.schedule(cus, float(data["decide_after_s"]), data.get("decide_state", "OK"))
        elif not store.patch(cus, data):
            return jsonify(error="nada que cambiar"), 400
        return jsonify(store.get(cus).public())  # type: ignore[union-attr]

    @app.post("/_control/conciliation")
    def control_conciliation() -> Response:
        # A row present at ACH and absent here (planted to test the conciliation job).
        data = request.get_json(silent=True) or {}
        day = data.get("date", today().isoformat())
        store.add_conciliation_line(day, conciliation_line(
            int(data.get("ticketId", 0)), str(data.get("trazabilityCode", "")), str(data.get("bank", "1022")),
            Decimal(str(data.get("amount", "0"))), Decimal(str(data.get("vat", "0"))), str(data.get("state", "OK")),
            day, day, str(data.get("cycle", cycle_now()))))
        return jsonify(ok=True)

    @app.post("/_control/reset")
    def control_reset() -> Response:
        store.reset()
        return jsonify(ok=True)

    return app


def conciliation_line(ticket_id: int, cus: str, bank: str, amount: Decimal, vat: Decimal, state: str,
                      solicite: str, processed: str, cycle: str) -> str:
    return f"{ticket_id};{cus};{bank};{amount:.2f};{vat:.2f};{state};{solicite};{processed};{cycle}"


class HttpStatusError(Exception):
    """Answered as a bare HTTP error (no SOAP): a front end failing before any work."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status
