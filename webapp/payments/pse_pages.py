"""The member's PSE pages: "Conectando con PSE" (after "Finalizar", until the bank's
address is known, then the bank in this same window) and the return page PSE sends the
member back to (`entityurl`).

Nothing here changes a payment: the return only asks the workers for a status query
(debounced), and what the pages show is read from our database. Whatever the browser
brings back (`estado=OK`, a CUS) is ignored: only PSE's answer to our query is truth
(DESIGN §5). A ticket that is malformed, unknown or another member's is refused the same
way as any id that is not the member's, and logged.
"""
from __future__ import annotations

import logging
from typing import Any

from flask import g, jsonify, redirect, request, url_for

from db.engine import session_scope
from db.payments.errors import NotOwnedError
from db.payments.intents import load_owned_intent
from db.payments.pse_views import MSG_BAD_TICKET, PseCheckout, PseReceipt, pse_checkout, pse_receipt
from domain.money import format_cop
from domain.payment_request import KIND_TRANSFER, PaymentInputError
from webapp.auth.guard import member_required
from webapp.errors import raise_error

from . import bp, queue, texts
from .views import _member_id, _page, _pse_settings

log = logging.getLogger(__name__)

CONNECT_REFRESH_S = 2  # the no-JavaScript fallback of "Conectando con PSE"
MSG_CONNECTING = "Conectando con PSE. En unos segundos lo llevaremos a la página de su entidad financiera."
MSG_REJECTED_TITLE = "Su pago por PSE no fue realizado"


def _retry_url(intent_id: int) -> str:
    """"Reintentar": back to the start of the same wizard (payments or transfers)."""
    with session_scope() as db:
        kind = load_owned_intent(db, _member_id(), intent_id).kind.value
    return url_for(".transfers") if kind == KIND_TRANSFER else url_for(".start")


def _safe_bank_url(url: str | None) -> str | None:
    # The bank's address came from PSE's answer; follow only a web address.
    return url if url and url.startswith(("https://", "http://")) and len(url) <= 500 else None


def _checkout(intent_id: int) -> PseCheckout:
    try:
        with session_scope() as db:
            return pse_checkout(db, _member_id(), intent_id)
    except NotOwnedError as exc:
        log.warning("pse_checkout_refused", extra={"intent_id": intent_id, "member_id": _member_id()})
        raise_error(404, str(exc))
    raise AssertionError("unreachable")


@bp.get("/pse/conectando/<id:intent_id>")
@member_required
def pse_connecting(intent_id: int):  # noqa: ANN201
    checkout = _checkout(intent_id)
    if checkout.state == "redirigir" and _safe_bank_url(checkout.bank_url):
        # The bank in this same window: never an iframe or a pop-up (pse-reference §1.4).
        return redirect(checkout.bank_url, code=303)  # type: ignore[arg-type]
    if checkout.state == "aprobado":
        return redirect(url_for(".status", intent_id=intent_id), code=303)
    return _page("payments/pse_conectando.html", checkout=checkout, message_connecting=MSG_CONNECTING,
                 rejected_title=MSG_REJECTED_TITLE, refresh_s=CONNECT_REFRESH_S,
                 json_url=url_for(".pse_connecting_json", intent_id=intent_id),
                 retry_url=_retry_url(intent_id), status_url=url_for(".status", intent_id=intent_id))


@bp.get("/pse/conectando/<id:intent_id>.json")
@member_required
def pse_connecting_json(intent_id: int):  # noqa: ANN201
    g.session_no_touch = True  # polling is not the member's activity
    checkout = _checkout(intent_id)
    bank_url = _safe_bank_url(checkout.bank_url) if checkout.state == "redirigir" else None
    return jsonify(estado=checkout.state, url=bank_url, mensaje=checkout.message, cus=checkout.cus)


def _ticket_arg() -> str:
    """The one `ticket` PSE put in our entityurl. Anything else the query string carries
    (a forged `estado=OK` or `cus`) is ignored, and logged."""
    extra = sorted(k for k in request.args if k != "ticket")
    if extra:
        log.warning("pse_return_extra_params", extra={"params": extra[:10], "member_id": _member_id()})
    values = request.args.getlist("ticket")
    if len(values) != 1:
        log.warning("pse_return_refused", extra={"reason": "ticket_count", "count": len(values),
                                                 "member_id": _member_id()})
        raise_error(400, MSG_BAD_TICKET)
    return values[0]


def _receipt(ticket: str) -> PseReceipt:
    try:
        with session_scope() as db:
            return pse_receipt(db, _member_id(), ticket, company_nit=_pse_settings().entity_code)
    except PaymentInputError as exc:
        log.warning("pse_return_refused", extra={"reason": "malformed", "member_id": _member_id()})
        raise_error(400, str(exc))
    except NotOwnedError as exc:
        log.warning("pse_return_refused", extra={"reason": "not_owned", "ticket": ticket[:20],
                                                 "member_id": _member_id()})
        raise_error(404, str(exc))
    raise AssertionError("unreachable")


def _receipt_view(r: PseReceipt) -> dict[str, Any]:
    rejected = r.final and r.state != "OK"
    return {
        "estado": r.state_label,
        "final": r.final,
        "aprobado": r.state == "OK",
        "rechazado": rejected,
        "cus": r.cus or "—",
        "banco": r.bank_name or r.bank_code,
        "valor": format_cop(r.amount),
        "moneda": "COP",
        "referencia": r.reference,
        "descripcion": r.description,
        "fecha": texts.bogota_moment(r.created_at),
        "ip": r.payer_ip or "—",
        "empresa": r.company_name,
        "nit": r.company_nit,
        "ticket": r.ticket_id,
    }


def _query_marker(receipt: PseReceipt) -> str:
    """Moves each time a query to PSE is answered: what the debounce compares."""
    return receipt.last_query_at.isoformat() if receipt.last_query_at else "never"


@bp.get("/pse/retorno")
@member_required
def pse_return():  # noqa: ANN201
    receipt = _receipt(_ticket_arg())
    if not receipt.final:
        # After this request's reads, nothing to commit: ask PSE now; the answer moves it.
        queue.ask_pse_query(receipt.tx_id, answered_marker=_query_marker(receipt))
    return _page("payments/pse_retorno.html", r=_receipt_view(receipt), intent_id=receipt.intent_id,
                 json_url=url_for(".pse_return_json", ticket=receipt.ticket_id),
                 retry_url=_retry_url(receipt.intent_id),
                 status_url=url_for(".status", intent_id=receipt.intent_id))


@bp.get("/pse/retorno.json")
@member_required
def pse_return_json():  # noqa: ANN201
    g.session_no_touch = True
    receipt = _receipt(_ticket_arg())
    if not receipt.final:
        queue.ask_pse_query_again(receipt.tx_id, answered_marker=_query_marker(receipt))
    return jsonify(estado=receipt.state_label, final=receipt.final, cus=receipt.cus)
