"""Reading the review queue (issue 9 item 6): what the reconciler stopped driving and a
person must decide. Filing happens in the reconciler's claim (`reconcile._CLAIM_SQL`)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import ReviewItem, ReviewState


@dataclass(frozen=True, slots=True)
class OpenItem:
    id: int
    kind: str
    payment_intent_id: int | None
    reason: str
    amount: Decimal | None
    created_at: datetime


def open_items(session: Session, *, limit: int = 200) -> list[OpenItem]:
    """Open items, oldest first."""
    rows = session.execute(
        select(ReviewItem.id, ReviewItem.kind, ReviewItem.payment_intent_id, ReviewItem.reason, ReviewItem.amount,
               ReviewItem.created_at)
        .where(ReviewItem.state == ReviewState.OPEN.value)
        .order_by(ReviewItem.created_at, ReviewItem.id)
        .limit(limit)
    ).all()
    return [OpenItem(*row) for row in rows]
