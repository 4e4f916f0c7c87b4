"""Operators of the console (issue 12): their own accounts, apart from members', with a
key (argon2id) and a TOTP second factor; every action they take, append-only; and the
four-eyes requests (a reversal or a refund asked by one operator, approved by another
who is a supervisor)."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Boolean, CheckConstraint, DateTime, ForeignKey, Index, Integer, Numeric, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UtcNow


class OperatorRole(StrEnum):
    OPERADOR = "operador"      # looks, nudges, resolves review items, asks for reversals
    SUPERVISOR = "supervisor"  # all that, and approves another operator's request


class RequestKind(StrEnum):
    REVERSAL = "reversal"            # undo an applied payment (obligations back as before)
    REFUND_TO_SAVINGS = "refund_to_savings"  # credit the payment's money to the member's savings


class RequestState(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class Operator(Base):
    __tablename__ = "operators"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    username: Mapped[str] = mapped_column(String(40), unique=True)
    key_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    # Base32 TOTP secret; NULL until drawn on the enrolment page. It counts only once
    # `totp_enrolled_at` is set, which a valid code on that page does.
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_enrolled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The last 30-second step whose code was accepted: a code of that step or earlier is
    # refused, so a code seen over a shoulder cannot be replayed within its window.
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    failed_attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_login_ip: Mapped[str | None] = mapped_column(String(45))
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    created_at: Mapped[UtcNow]

    __table_args__ = (
        CheckConstraint(f"role IN ('{OperatorRole.OPERADOR.value}', '{OperatorRole.SUPERVISOR.value}')", name="role"),
        CheckConstraint("failed_attempts >= 0", name="failed_attempts"),
        CheckConstraint("totp_enrolled_at IS NULL OR totp_secret IS NOT NULL", name="enrolled_has_secret"),
    )


class OperatorRequest(Base):
    """A change to money that needs a second person: asked by one operator, approved (or
    rejected) by a different one with the supervisor role."""

    __tablename__ = "operator_requests"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))
    payment_intent_id: Mapped[int] = mapped_column(ForeignKey("payment_intents.id"), index=True)
    requested_by: Mapped[int] = mapped_column(ForeignKey("operators.id"))
    requested_at: Mapped[UtcNow]
    reason: Mapped[str] = mapped_column(Text)
    # A refund's amount (a reversal gives back exactly what the payment moved: no amount),
    # and the review item it settles, if any (resolved with the refund).
    amount: Mapped[Decimal | None] = mapped_column(Numeric(18, 2))
    review_item_id: Mapped[int | None] = mapped_column(ForeignKey("review_items.id"))
    state: Mapped[str] = mapped_column(String(20), server_default=text(f"'{RequestState.PENDING.value}'"))
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("operators.id"))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decision_reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        CheckConstraint(f"kind IN ('{RequestKind.REVERSAL.value}', '{RequestKind.REFUND_TO_SAVINGS.value}')",
                        name="kind"),
        CheckConstraint(f"state IN ({', '.join(repr(s.value) for s in RequestState)})", name="state"),
        CheckConstraint(f"(state = '{RequestState.PENDING.value}') = (decided_by IS NULL AND decided_at IS NULL)",
                        name="decided_when_decided"),
        CheckConstraint(f"(kind = '{RequestKind.REFUND_TO_SAVINGS.value}') = (amount IS NOT NULL) "
                        "AND (amount IS NULL OR amount > 0)", name="refund_has_amount"),
        # Four eyes, kept by the database too: nobody decides their own request.
        CheckConstraint("decided_by IS NULL OR decided_by <> requested_by", name="four_eyes"),
        # One open request per payment: two operators asking twice would be two reversals.
        Index("uq_operator_requests_pending_intent", "payment_intent_id", unique=True,
              postgresql_where=text(f"state = '{RequestState.PENDING.value}'")),
    )


class OperatorAction(Base):
    """Append-only (a trigger refuses UPDATE and DELETE): who, when, from where, why and
    what, for every login and every action in the console."""

    __tablename__ = "operator_actions"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[UtcNow]
    # NULL only for a failed login under a username that is no operator's.
    operator_id: Mapped[int | None] = mapped_column(ForeignKey("operators.id"))
    kind: Mapped[str] = mapped_column(String(40))
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    reason: Mapped[str | None] = mapped_column(Text)
    payment_intent_id: Mapped[int | None] = mapped_column(ForeignKey("payment_intents.id"))
    review_item_id: Mapped[int | None] = mapped_column(ForeignKey("review_items.id"))
    request_id: Mapped[int | None] = mapped_column(ForeignKey("operator_requests.id"))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))

    __table_args__ = (
        Index("ix_operator_actions_intent", "payment_intent_id", "at"),
        Index("ix_operator_actions_operator_at", "operator_id", "at"),
    )
