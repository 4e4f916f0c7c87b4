"""The member's payments and transfers, newest first, for "Pagos y Transferencias"."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ..models import PaymentIntent
from .intents import allocation_rows, pse_parts
from .receipts import format_receipt_number

MAX_PAGE = 100


def payment_history(
    session: Session, member_id: int, *, limit: int = 20, before_id: int | None = None
) -> list[dict[str, object]]:
    """State, date, amount, lines, allocation and receipt per intent (JSON-able)."""
    limit = max(1, min(limit, MAX_PAGE))
    query = (
        select(PaymentIntent)
        .where(PaymentIntent.member_id == member_id)
        .order_by(PaymentIntent.id.desc())
        .limit(limit)
        .options(selectinload(PaymentIntent.lines), selectinload(PaymentIntent.attempts))
    )
    if before_id is not None:
        query = query.where(PaymentIntent.id < before_id)
    intents = list(session.execute(query).scalars())
    pse = pse_parts(session, [intent.id for intent in intents])
    out = []
    for intent in intents:
        out.append({
            "intent_id": intent.id,
            "kind": intent.kind.value,
            "state": intent.state.value,
            "created_at": intent.created_at.isoformat(),
            "applied_at": intent.applied_at.isoformat() if intent.applied_at else None,
            "total_amount": str(intent.total_amount),
            "failure_reason": intent.failure_reason,
            "receipt_number": format_receipt_number(intent.receipt_number) if intent.receipt_number else None,
            "lines": [
                {"obligation_id": l.obligation_id, "target_savings_account_id": l.target_savings_account_id,
                 "amount": str(l.amount)}
                for l in intent.lines
            ],
            "funding": [
                {"savings_account_id": a.savings_account_id, "kind": a.kind.value, "amount": str(a.amount),
                 "gmf": str(a.gmf_amount), "state": a.state.value}
                for a in intent.attempts
            ],
            "pse": pse.get(intent.id),
            "allocation": allocation_rows(session, intent.id),
        })
    return out
