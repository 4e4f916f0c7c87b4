"""Routes of "Pagos y Transferencias".

Wizard (manual's wording): Tipo de Pago → Obligaciones → Formas de Pago → Requisitos →
Verificación → Finalizar; "Transferencias" joins at Requisitos. Finalizar writes the
intent (one transaction), commits, then nudges the worker, and sends the member to the
status page, which polls `status_json` every second. Bad input never reaches the
database: each step answers 4xx with the Spanish reason.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from flask import current_app, g, jsonify, redirect, request, session, url_for
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from db.engine import session_scope
from db.member_summary import ObligationLine, SavingsLine, obligations_overview, savings_overview
from db.models import PaymentIntent
from db.payments.errors import PAYMENT_ERRORS, NotOwnedError
from db.payments.history import payment_history
from db.payments.intents import (
    NewIntent,
    PseContext,
    create_intent,
    intent_status,
    overdue_lines,
    preview_allocation,
    requirements_table,
)
from db.payments.planning import ObligationPlan, obligation_plan
from db.payments.receipts import receipt as receipt_data
from db.payments.snapshots import load_obligations
from db.pse_banks import current_banks
from domain.pse_banks import BankChoice
from domain.bogota_calendar import BOGOTA, bogota_date
from domain.money import format_cop
from domain.payment_request import KIND_PAYMENT, KIND_TRANSFER, MSG_BAD_KEY, PaymentInputError
from domain.requirements import all_met
from zona_privada.settings import load_pse_settings
from webapp.auth.guard import current_member_id, member_required
from webapp.errors import raise_error
from webapp.zone.frame import render_zone

from . import bp, otp, queue, texts, wizard
from .presentation import stage_of
from .wizard import StepError, Wizard


TAB = "pagos"
PAYMENT_STEPS = ("Tipo de Pago", "Obligaciones", "Formas de Pago", "Requisitos", "Verificación")
TRANSFER_STEPS = ("Transferencia", "Requisitos", "Verificación")
MSG_TAMPERED = ("Los datos del pago no coinciden con los que usted verificó; vuelva a la verificación e "
                "intente de nuevo")
MSG_BAD_PAGE = "La página solicitada no es válida"
REMINDER = ("Recuerde que su aporte social lo compone los ahorros permanentes y los aportes sociales, los cuales "
            "deben ser pagados mensualmente para no quedar en mora.")
PROMISE = ("Por este medio verás tu pago aplicado en un máximo de media hora y lo puedes validar directamente en "
           "la página en la pestaña pagos y transferencias o en la pestaña del producto que cancelaste.")


def _settings():  # noqa: ANN202
    return current_app.config["ZONA_SETTINGS"]


def _member_id() -> int:
    member_id = current_member_id()
    assert member_id is not None  # member_required ran first
    return member_id


def _today():  # noqa: ANN202
    return bogota_date(datetime.now(BOGOTA))


def _page(template: str, status: int = 200, **context: Any):  # noqa: ANN202
    context.setdefault("D", Decimal)
    return render_zone(template, TAB, cop=format_cop, texts=texts, **context), status


def _steps(kind: str, current: int) -> dict[str, Any]:
    return {"steps": PAYMENT_STEPS if kind == KIND_PAYMENT else TRANSFER_STEPS, "current_step": current}


def _step_number(kind: str, name: str) -> int:
    steps = PAYMENT_STEPS if kind == KIND_PAYMENT else TRANSFER_STEPS
    return steps.index(name)


def _own_rows(member_id: int) -> tuple[list[ObligationLine], list[SavingsLine]]:
    with session_scope() as db:
        return obligations_overview(db, member_id, _today()), savings_overview(db, member_id)


def _payable(rows: list[ObligationLine]) -> list[ObligationLine]:
    return [row for row in rows if row.next_due_date is not None]


def _plans(member_id: int, ids: list[int]) -> dict[int, ObligationPlan]:
    today = _today()
    with session_scope() as db:
        return {oid: obligation_plan(ob, today) for oid, ob in load_obligations(db, member_id, ids).items()}


def _labels(member_id: int) -> dict[tuple[str, int], str]:
    rows, accounts = _own_rows(member_id)
    labels = {("o", r.obligation_id): f"{r.description} {r.number}" for r in rows}
    labels.update({("a", a.savings_account_id): f"{texts.PRODUCT_LABELS.get(a.product, a.product)} {a.number}"
                   for a in accounts})
    return labels


def _pse_settings():  # noqa: ANN202
    # Read once per app: the bank list's age limit is all the web needs of them.
    if "ZONA_PSE_SETTINGS" not in current_app.config:
        current_app.config["ZONA_PSE_SETTINGS"] = load_pse_settings()
    return current_app.config["ZONA_PSE_SETTINGS"]


def _bank_list() -> list[BankChoice] | None:
    """PSE's cached list (placeholders never stored), or None when there is none or it is
    too old: the page then shows PSE's standard message and PSE cannot be chosen."""
    with session_scope() as db:
        return current_banks(db, datetime.now(timezone.utc), timedelta(seconds=_pse_settings().banks_max_age_s))


def _bank_map(banks: list[BankChoice] | None) -> dict[str, str] | None:
    return None if banks is None else {b.code: b.name for b in banks}


def _pse_context() -> PseContext:
    """The payer's IP (ProxyFix, when ZONA_TRUSTED_PROXIES is set, already put the client's
    address here) and where PSE sends the member back: ZONA_PUBLIC_URL when set (behind
    a proxy the request's host may be an internal name), else this request's host."""
    public_url = _settings().public_url
    path = url_for(".pse_return")
    base = f"{public_url}{path}" if public_url else url_for(".pse_return", _external=True)
    return PseContext(payer_ip=request.remote_addr or "0.0.0.0", return_url_prefix=f"{base}?ticket=")


# ---------------------------------------------------------------- step 1: Tipo de Pago


@bp.get("/")
@member_required
def start():  # noqa: ANN201
    current = wizard.load(session)
    tipo = current.tipo if current.kind == KIND_PAYMENT else None
    return _page("payments/tipo.html", tipo=tipo, error=None, **_steps(KIND_PAYMENT, 0))


@bp.post("/")
@member_required
def start_submit():  # noqa: ANN201
    member_id = _member_id()
    try:
        tipo = wizard.read_tipo(request.form)
        if tipo == wizard.TIPO_VENTANILLA:
            with session_scope() as db:
                lines = wizard.overdue_wizard_lines(overdue_lines(db, member_id, today=_today()))
        else:
            lines = []
    except StepError as exc:
        return _page("payments/tipo.html", exc.status, tipo=request.form.get("tipo"), error=exc.message,
                     **_steps(KIND_PAYMENT, 0))
    wizard.save(session, Wizard(kind=KIND_PAYMENT, tipo=tipo, lines=lines))
    return redirect(url_for(".obligations"), code=303)


# ---------------------------------------------------------------- step 2: Obligaciones


def _obligations_page(current: Wizard, rows: list[ObligationLine], *, status: int = 200, error: str | None = None,
                      fields: dict[str, str] | None = None, typed: Any = None):  # noqa: ANN202
    chosen = {line["obligation_id"]: line for line in current.lines}
    overdue_view = current.tipo == wizard.TIPO_VENTANILLA
    shown = [r for r in rows if r.obligation_id in chosen] if overdue_view else _payable(rows)
    return _page("payments/obligaciones.html", status, rows=shown, chosen=chosen, ventanilla=overdue_view,
                 total=current.total, error=error, fields=fields or {}, typed=typed, reminder=REMINDER,
                 prepayment_labels=texts.PREPAYMENT_LABELS, **_steps(KIND_PAYMENT, 1))


@bp.get("/obligaciones")
@member_required
def obligations():  # noqa: ANN201
    current = wizard.load(session)
    if not current.ready_for("obligaciones"):
        return redirect(url_for(".start"))
    rows, _accounts = _own_rows(_member_id())
    return _obligations_page(current, rows)


@bp.post("/obligaciones")
@member_required
def obligations_submit():  # noqa: ANN201
    member_id = _member_id()
    current = wizard.load(session)
    if not current.ready_for("obligaciones"):
        return redirect(url_for(".start"), code=303)
    rows, _accounts = _own_rows(member_id)
    if current.tipo == wizard.TIPO_INDIVIDUAL:
        payable = {r.obligation_id: r for r in _payable(rows)}
        try:
            current.lines = wizard.read_obligations(request.form, payable, _plans(member_id, list(payable)))
        except StepError as exc:
            if exc.status == 404:
                raise_error(404, exc.message)
            current.lines = []
            return _obligations_page(current, rows, status=exc.status, error=exc.message, fields=exc.fields,
                                     typed=request.form)
    current.forma, current.funding = None, []
    wizard.save(session, current)
    return redirect(url_for(".methods"), code=303)


# ---------------------------------------------------------------- step 3: Formas de Pago


def _methods_page(current: Wizard, accounts: list[SavingsLine], banks: list[BankChoice] | None, *,
                  status: int = 200, error: str | None = None, fields: dict[str, str] | None = None,
                  typed: Any = None):  # noqa: ANN202
    return _page("payments/formas.html", status, accounts=accounts, total=current.total, forma=current.forma,
                 funding={f.get("savings_account_id") or wizard.PSE_SOURCE: f for f in current.funding},
                 error=error, fields=fields or {}, typed=typed, banks=banks, msg_no_banks=wizard.MSG_NO_BANKS,
                 **_steps(KIND_PAYMENT, 2))


@bp.get("/formas-de-pago")
@member_required
def methods():  # noqa: ANN201
    current = wizard.load(session)
    if not current.ready_for("formas"):
        return redirect(url_for(".start"))
    _rows, accounts = _own_rows(_member_id())
    return _methods_page(current, accounts, _bank_list())


@bp.post("/formas-de-pago")
@member_required
def methods_submit():  # noqa: ANN201
    current = wizard.load(session)
    if not current.ready_for("formas"):
        return redirect(url_for(".start"), code=303)
    _rows, accounts = _own_rows(_member_id())
    banks = _bank_list()
    try:
        current.forma, current.funding = wizard.read_funding(
            request.form, current.total, {a.savings_account_id: a for a in accounts}, banks=_bank_map(banks))
        current.request()
    except StepError as exc:
        if exc.status == 404:
            raise_error(404, exc.message)
        return _methods_page(current, accounts, banks, status=exc.status, error=exc.message, fields=exc.fields,
                             typed=request.form)
    except PaymentInputError as exc:
        return _methods_page(current, accounts, banks, status=422, error=str(exc), typed=request.form)
    wizard.save(session, current)
    return redirect(url_for(".requirements"), code=303)


# ---------------------------------------------------------------- Transferencias


def _transfer_page(accounts: list[SavingsLine], banks: list[BankChoice] | None, *, status: int = 200,
                   error: str | None = None, fields: dict[str, str] | None = None,
                   typed: Any = None):  # noqa: ANN202
    return _page("payments/transferencias.html", status, accounts=accounts, error=error, fields=fields or {},
                 typed=typed, banks=banks, msg_no_banks=wizard.MSG_NO_BANKS, **_steps(KIND_TRANSFER, 0))


@bp.get("/transferencias")
@member_required
def transfers():  # noqa: ANN201
    _rows, accounts = _own_rows(_member_id())
    current = wizard.load(session)
    typed = None
    if current.kind == KIND_TRANSFER and current.lines:
        typed = _transfer_typed(current)
    return _transfer_page(accounts, _bank_list(), typed=typed)


def _transfer_typed(current: Wizard) -> MultiDict:
    """The transfer form as the member left it (back from Requisitos)."""
    pairs = [("destino", str(current.lines[0]["target_savings_account_id"])),
             ("valor", format_cop(Decimal(current.lines[0]["amount"]))[1:-3])]
    if current.forma == wizard.FORMA_DEBITO:
        pairs.append(("origen", str(current.funding[0]["savings_account_id"])))
    else:
        pairs.append(("origen", wizard.PSE_SOURCE if current.forma == wizard.FORMA_PSE else wizard.FORMA_MULTIPLE))
    for f in current.funding:
        if f.get("pse"):
            pairs += [("banco", f["bank_code"]), ("tipo_persona", "juridica" if f["user_type"] else "natural")]
            source = wizard.PSE_SOURCE
        else:
            source = str(f["savings_account_id"])
        if current.forma == wizard.FORMA_MULTIPLE:
            pairs += [("cuentas", source), (f"valor_{source}", str(int(Decimal(f["amount"]))))]
    return MultiDict(pairs)


@bp.post("/transferencias")
@member_required
def transfers_submit():  # noqa: ANN201
    _rows, accounts = _own_rows(_member_id())
    banks = _bank_list()
    try:
        current = wizard.read_transfer(request.form, {a.savings_account_id: a for a in accounts},
                                       banks=_bank_map(banks))
        current.request()
    except StepError as exc:
        if exc.status == 404:
            raise_error(404, exc.message)
        return _transfer_page(accounts, banks, status=exc.status, error=exc.message, fields=exc.fields,
                              typed=request.form)
    except PaymentInputError as exc:
        return _transfer_page(accounts, banks, status=422, error=str(exc), typed=request.form)
    wizard.save(session, current)
    return redirect(url_for(".requirements"), code=303)


# ---------------------------------------------------------------- step 4: Requisitos


def _checked_request(current: Wizard):  # noqa: ANN202
    try:
        return current.request()
    except PaymentInputError as exc:
        raise_error(422, str(exc))
    raise AssertionError("unreachable")


@bp.get("/requisitos")
@member_required
def requirements():  # noqa: ANN201
    current = wizard.load(session)
    if not current.ready_for("requisitos"):
        return redirect(url_for(".start"))
    payment_request = _checked_request(current)
    try:
        with session_scope() as db:
            rows = requirements_table(db, _member_id(), payment_request, today=_today(), settings=_settings())
    except PAYMENT_ERRORS as exc:
        raise_error(getattr(exc, "http_status", 422), str(exc))
    back = url_for(".methods") if current.kind == KIND_PAYMENT else url_for(".transfers")
    return _page("payments/requisitos.html", rows=rows, ok=all_met(rows), back=back, kind=current.kind,
                 **_steps(current.kind, _step_number(current.kind, "Requisitos")))


# ---------------------------------------------------------------- step 5: Verificación


def _verification_page(member_id: int, issued: dict[str, Any], *, status: int = 200, error: str | None = None):  # noqa: ANN202
    body = issued["body"]
    current = Wizard(kind=body["kind"], lines=body["lines"], funding=body["funding"])
    with session_scope() as db:
        preview = preview_allocation(db, member_id, current.request(), today=_today())
    code = otp.pending(session, issued["key"]) if issued["otp"] else None
    return _page("payments/verificacion.html", status, preview=preview, issued=issued, kind=body["kind"],
                 forma_texto=wizard.forma_of(body["funding"]), error=error, code=code, otp_channels=otp.CHANNELS, code_minutes=max(1, _settings().otp_ttl_s // 60),
                 **_steps(body["kind"], _step_number(body["kind"], "Verificación")))


@bp.get("/verificacion")
@member_required
def verification():  # noqa: ANN201
    member_id = _member_id()
    current = wizard.load(session)
    if not current.ready_for("verificacion"):
        return redirect(url_for(".start"))
    payment_request = _checked_request(current)
    try:
        with session_scope() as db:
            rows = requirements_table(db, member_id, payment_request, today=_today(), settings=_settings())
            if not all_met(rows):
                return redirect(url_for(".requirements"))
            preview = preview_allocation(db, member_id, payment_request, today=_today())
    except PAYMENT_ERRORS as exc:
        raise_error(getattr(exc, "http_status", 422), str(exc))
    to_pay = Decimal(preview["total_a_pagar_hoy"])
    # The one-time code guards what leaves the member's savings here; a PSE part is
    # authorised by the member at their own bank.
    issued = wizard.issue_key(session, current, total_text=format_cop(to_pay),
                              otp_required=Decimal(preview["savings_debit"]) > _settings().payment_otp_threshold_cop)
    return _verification_page(member_id, issued)


def _issued_from_form() -> dict[str, Any]:
    """The key this session issued on "Verificación", and its body; the hidden fields
    must still say what the member verified."""
    issued = wizard.find_issued(session, request.form.get("clave"))
    if issued is None:
        raise_error(422, MSG_BAD_KEY)
    assert issued is not None
    if request.form.get("resumen") != issued["digest"] or request.form.get("total") != issued["total"]:
        raise_error(422, MSG_TAMPERED)
    return issued


@bp.post("/verificacion/codigo")
@member_required
def send_code():  # noqa: ANN201
    member_id = _member_id()
    issued = _issued_from_form()
    if not issued["otp"]:
        raise_error(422, MSG_BAD_KEY)
    try:
        otp.send(session, member_id=member_id, key=issued["key"], channel=request.form.get("canal", ""),
                 total_text=issued["total"], ttl_s=_settings().otp_ttl_s)
    except otp.OtpError as exc:
        return _verification_page(member_id, issued, status=422, error=exc.message)
    return redirect(url_for(".verification"), code=303)


def _existing_intent(member_id: int, key: str) -> int | None:
    with session_scope() as db:
        return db.execute(select(PaymentIntent.id).where(
            PaymentIntent.member_id == member_id, PaymentIntent.idempotency_key == key)).scalar_one_or_none()


@bp.post("/finalizar")
@member_required
def finish():  # noqa: ANN201
    member_id = _member_id()
    issued = _issued_from_form()
    key = issued["key"]
    # A replay of a submitted form needs no new code: it only finds the same intent.
    if issued["otp"] and _existing_intent(member_id, key) is None:
        try:
            otp.check(session, key, request.form.get("codigo"))
        except otp.OtpError as exc:
            return _verification_page(member_id, issued, status=422, error=exc.message)
    body = issued["body"]
    try:
        with session_scope() as db:
            intent_id, first_step = _create(db, member_id, key, body)
    except PAYMENT_ERRORS as exc:
        raise_error(getattr(exc, "http_status", 422), str(exc))
    if first_step is not None:
        # A new intent: create_intent named its first step from the step table, so the
        # nudge needs no second look at the database. A replay enqueues nothing.
        queue.enqueue_intent(intent_id, first_step.value)
    wizard.remember_intent(session, key, intent_id)
    wizard.clear(session)
    if any(f.get("pse") for f in body["funding"]):
        # "Conectando con PSE": it follows the send and takes the member to the bank.
        return redirect(url_for(".pse_connecting", intent_id=intent_id), code=303)
    return redirect(url_for(".status", intent_id=intent_id), code=303)


def _create(db: Any, member_id: int, key: str, body: dict[str, Any]) -> NewIntent:
    pse = _pse_context() if any(f.get("pse") for f in body["funding"]) else None
    return create_intent(db, member_id=member_id, idempotency_key=key, kind=body["kind"], lines=body["lines"],
                         funding=body["funding"], today=_today(), settings=_settings(), pse=pse)


# ---------------------------------------------------------------- status and receipt


def _status(member_id: int, intent_id: int) -> dict[str, Any]:
    try:
        with session_scope() as db:
            data = intent_status(db, member_id, intent_id, settings=_settings())
    except NotOwnedError as exc:
        raise_error(404, str(exc))
    deadline = datetime.fromisoformat(data["promise_deadline_at"])
    left_s = max(0, int((deadline - datetime.now(timezone.utc)).total_seconds()))
    stage = stage_of(data["state"])
    return {
        **data,
        "etapa": stage,
        "etapa_texto": texts.STAGE_LABELS.get(stage, stage),
        "total_texto": format_cop(Decimal(data["total_amount"])),
        "creado_texto": texts.bogota_moment(data["created_at"]),
        "aplicado_texto": texts.bogota_moment(data["applied_at"]) if data["applied_at"] else None,
        "promesa_segundos": left_s,
        "comprobante_url": url_for(".receipt", intent_id=intent_id) if data["state"] == "applied" else None,
        "pse_texto": texts.pse_part(data["pse"]),
    }


@bp.get("/estado/<id:intent_id>")
@member_required
def status(intent_id: int):  # noqa: ANN201
    member_id = _member_id()
    data = _status(member_id, intent_id)
    return _page("payments/estado.html", data=data, promise=PROMISE, labels=_labels(member_id),
                 json_url=url_for(".status_json", intent_id=intent_id))


@bp.get("/estado/<id:intent_id>.json")
@member_required
def status_json(intent_id: int):  # noqa: ANN201
    # Polling is not the member's activity: it must not keep an idle session alive.
    g.session_no_touch = True
    data = _status(_member_id(), intent_id)
    data.pop("allocation", None)
    data.pop("funding", None)
    data.pop("pse", None)
    return jsonify(data)


@bp.get("/comprobante/<id:intent_id>")
@member_required
def receipt(intent_id: int):  # noqa: ANN201
    try:
        with session_scope() as db:
            data = receipt_data(db, _member_id(), intent_id)
    except NotOwnedError as exc:
        raise_error(404, str(exc))
    return _page("payments/comprobante.html", r=data, fecha=texts.bogota_moment(data["applied_at"]))


# ---------------------------------------------------------------- history


@bp.get("/historial")
@member_required
def history():  # noqa: ANN201
    member_id = _member_id()
    raw_before = request.args.get("antes")
    before_id = None
    if raw_before is not None:
        if not raw_before.isascii() or not raw_before.isdigit() or len(raw_before) > 12:
            raise_error(400, MSG_BAD_PAGE)
        before_id = int(raw_before)
    page_size = 20
    with session_scope() as db:
        items = [{**item, "etapa": stage_of(str(item["state"]))}
                 for item in payment_history(db, member_id, limit=page_size, before_id=before_id)]
    labels = _labels(member_id)
    older = url_for(".history", antes=items[-1]["intent_id"]) if len(items) == page_size else None
    return _page("payments/historial.html", items=items, labels=labels, older=older)
