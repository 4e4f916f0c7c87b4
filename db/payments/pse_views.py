"""What the member's pages read about a PSE payment (issue 10 §3): the "connecting to your
bank" page (is the bank's URL there yet?) and the return page (the receipt). Reads only;
another member's intent or ticket is refused exactly like one that does not exist."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.orm import Session

from domain.payment_request import PaymentInputError
from domain.payment_states import IntentState

from ..models import PseState
from .errors import MSG_NOT_YOURS_INTENT, NotOwnedError

MSG_BAD_TICKET = "El número de la transacción PSE no es válido"
MSG_NOT_YOURS_TICKET = "La transacción PSE solicitada no existe o no le pertenece"
MSG_CREATE_LOST = ("No recibimos la respuesta de PSE al crear su transacción. Su pago queda PENDIENTE mientras "
                   "confirmamos con PSE; no lo intente de nuevo: lo verá aplicado o liberado en esta página.")
_TICKET = re.compile(r"^[0-9]{1,20}$")

# The company on the receipt (ACH's checklist: company name and NIT).
COMPANY_NAME = "Cooperativa de Ahorro y Crédito"

STATE_LABELS = {
    PseState.CREATED: "En proceso", PseState.SENT: "En proceso", PseState.UNKNOWN: "Pendiente",
    PseState.NOT_CREATED: "No creada", PseState.PENDING: "Pendiente", PseState.OK: "Aprobada",
    PseState.NOT_AUTHORIZED: "Rechazada", PseState.FAILED: "Fallida",
}


@dataclass(frozen=True, slots=True)
class PseCheckout:
    intent_id: int
    ticket_id: str
    state: str               # esperando | redirigir | rechazado | desconocido
    bank_url: str | None
    cus: str | None
    message: str | None


_CHECKOUT_SQL = text("""
    SELECT p.state AS intent_state, p.failure_reason, t.ticket_id, t.state, t.bank_url, t.trazability_code
    FROM payment_intents p JOIN funding_attempts f ON f.intent_id = p.id
    JOIN pse_transactions t ON t.attempt_id = f.id
    WHERE p.id = :intent_id AND p.member_id = :member_id""")


def pse_checkout(session: Session, member_id: int, intent_id: int) -> PseCheckout:
    row = session.execute(_CHECKOUT_SQL, {"intent_id": intent_id, "member_id": member_id}).first()
    if row is None:
        raise NotOwnedError(MSG_NOT_YOURS_INTENT)
    state = PseState(row.state)
    if state is PseState.UNKNOWN:
        kind, message = "desconocido", MSG_CREATE_LOST
    elif row.bank_url and state is PseState.PENDING and row.intent_state == IntentState.FUNDING.value:
        kind, message = "redirigir", None
    elif state in (PseState.CREATED, PseState.SENT) and row.intent_state in (IntentState.CREATED.value,
                                                                             IntentState.FUNDING.value):
        kind, message = "esperando", None
    elif state is PseState.OK or row.intent_state in (IntentState.FUNDED.value, IntentState.APPLIED.value):
        kind, message = "aprobado", None
    else:
        kind, message = "rechazado", row.failure_reason or "El pago no se pudo iniciar en PSE"
    return PseCheckout(intent_id, row.ticket_id, kind, row.bank_url if kind == "redirigir" else None,
                       row.trazability_code, message)


@dataclass(frozen=True, slots=True)
class PseReceipt:
    tx_id: int
    intent_id: int
    ticket_id: str
    state: str
    state_label: str
    final: bool
    cus: str | None
    bank_code: str
    bank_name: str | None
    amount: Decimal
    reference: str
    description: str
    created_at: datetime
    payer_ip: str | None
    intent_state: str
    company_name: str
    company_nit: str
    # When PSE was last asked (None: never): the web asks again on the member's return
    # only once the previous question was answered.
    last_query_at: datetime | None = None


_RECEIPT_SQL = text("""
    SELECT t.id, f.intent_id, t.ticket_id, t.state, t.trazability_code, t.bank_code, t.bank_name, t.amount,
           t.created_at, t.payer_ip, p.state AS intent_state, t.last_query_at
    FROM pse_transactions t JOIN funding_attempts f ON f.id = t.attempt_id
    JOIN payment_intents p ON p.id = f.intent_id
    WHERE t.ticket_id = :ticket AND p.member_id = :member_id""")


def pse_receipt(session: Session, member_id: int, ticket: object, *, company_nit: str) -> PseReceipt:
    if not isinstance(ticket, str) or not _TICKET.match(ticket):
        raise PaymentInputError(MSG_BAD_TICKET)
    row = session.execute(_RECEIPT_SQL, {"ticket": ticket, "member_id": member_id}).first()
    if row is None:
        raise NotOwnedError(MSG_NOT_YOURS_TICKET)
    state = PseState(row.state)
    return PseReceipt(
        tx_id=row.id, intent_id=row.intent_id, ticket_id=row.ticket_id, state=state.value,
        state_label=STATE_LABELS[state], final=state in (PseState.OK, PseState.NOT_AUTHORIZED, PseState.FAILED,
                                                         PseState.NOT_CREATED),
        cus=row.trazability_code, bank_code=row.bank_code, bank_name=row.bank_name, amount=row.amount,
        reference=f"Pago Zona Privada No. {row.intent_id}", description=f"Pago Zona Privada No. {row.intent_id}",
        created_at=row.created_at, payer_ip=row.payer_ip, intent_state=row.intent_state,
        company_name=COMPANY_NAME, company_nit=company_nit, last_query_at=row.last_query_at,
    )


__all__ = ["MSG_BAD_TICKET", "MSG_NOT_YOURS_TICKET", "PseCheckout", "PseReceipt", "pse_checkout", "pse_receipt"]
