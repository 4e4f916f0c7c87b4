"""The review queue: payments the machine stopped driving and a person must decide
(issue 9 item 6). The reconciler files one when an intent keeps missing its step's
deadline or waits on an outside answer past its promise; the PSE and operations issues
add their own kinds (a late approval to apply or refund, a conciliation mismatch)."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, Index, Numeric, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UtcNow


class ReviewState(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class ReviewKind(StrEnum):
    REDRIVES_EXHAUSTED = "redrives_exhausted"  # the step kept missing its deadline
    AWAITING_PAST_DEADLINE = "awaiting_past_deadline"  # PSE may still approve, promise broken
    FAILED_AWAITING_APPROVAL = "failed_awaiting_approval"  # failed at settle; PSE may still approve
    # Issue 10: PSE approved after the intent ended: applied (the obligations still owed
    # it) or refunded to the member's Rentadiario. Either way a person looks.
    LATE_APPROVAL_APPLIED = "late_approval_applied"
    LATE_APPROVAL_REFUNDED = "late_approval_refunded"
    # Approved by PSE, but our payment could not be applied: refunded to savings.
    APPROVED_NOT_APPLIED = "approved_not_applied"
    # The conciliation file disagrees with us (approved there and rejected here, amounts
    # that differ, ours missing there, theirs missing here), or resolved an unknown create.
    CONCILIATION_MISMATCH = "conciliation_mismatch"
    UNKNOWN_CREATE_RESOLVED = "unknown_create_resolved"


class ReviewItem(Base):
    __tablename__ = "review_items"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    # What: the kind of problem and the payment it is about.
    kind: Mapped[str] = mapped_column(String(40))
    payment_intent_id: Mapped[int | None] = mapped_column(ForeignKey("payment_intents.id"))
    # Why, in words an operator reads ("Reintentos agotados en 'settle' (8)").
    reason: Mapped[str] = mapped_column(Text)
    # Amounts: the intent's total, and the detail (attempts and their states) as JSON.
    amount: Mapped[Decimal | None] = mapped_column(Numeric(18, 2))
    detail: Mapped[dict[str, object]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    state: Mapped[str] = mapped_column(String(20), server_default=text(f"'{ReviewState.OPEN.value}'"))
    created_at: Mapped[UtcNow]
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint(f"state IN ('{ReviewState.OPEN.value}', '{ReviewState.RESOLVED.value}')", name="state"),
        CheckConstraint(f"(state = '{ReviewState.RESOLVED.value}') = (resolved_at IS NOT NULL)",
                        name="resolved_when_resolved"),
        # One open item per intent: filing twice (two reconcilers, a re-run) adds nothing.
        Index("uq_review_items_open_intent", "payment_intent_id", unique=True,
              postgresql_where=text(f"state = '{ReviewState.OPEN.value}'")),
    )
