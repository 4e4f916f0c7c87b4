"""Audit trail and the notification outbox."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UtcNow


class AuditEvent(Base):
    """Append-only: logins, failures, locks, keys sent and changed, money movements."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[UtcNow]
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    kind: Mapped[str] = mapped_column(String(40))
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    payment_intent_id: Mapped[int | None] = mapped_column(BigInteger)
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))

    __table_args__ = (Index("ix_audit_events_member_at", "member_id", "at"),)


class OutboxMessage(Base):
    """A notification written in the same transaction as the fact it reports; a worker
    sends it afterwards, so a rolled-back payment never e-mails a receipt.

    A payment's receipt is written bare (recipient and intent, no subject or body): the
    payment transaction stays short, and the dispatcher composes it from the stored
    payment when it sends it, then keeps what it sent in `subject` and `body`."""

    __tablename__ = "notification_outbox"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    created_at: Mapped[UtcNow]
    channel: Mapped[str] = mapped_column(String(10))
    recipient: Mapped[str] = mapped_column(String(254))
    # NULL until composed: only a payment's receipt is written that way.
    subject: Mapped[str | None] = mapped_column(String(200))
    body: Mapped[str | None] = mapped_column(Text)
    # One message per fact, however many times the fact's step runs.
    dedupe_key: Mapped[str] = mapped_column(String(120), unique=True)
    status: Mapped[str] = mapped_column(String(10), server_default=text("'pending'"))
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When the dispatcher may nudge it again: a message already on its way is not queued
    # a second time, and one that keeps failing is retried less and less often.
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(String(300))
    # The applied payment a receipt reports; its text is composed from it when sent. No
    # index: lookups go by dedupe_key, and intents are never deleted.
    payment_intent_id: Mapped[int | None] = mapped_column(ForeignKey("payment_intents.id"))

    __table_args__ = (
        CheckConstraint("channel IN ('email', 'sms')", name="channel"),
        CheckConstraint("status IN ('pending', 'sent', 'failed')", name="status"),
        # Keep rows honest: a message is composed whole or not at all; one without text
        # must name the payment to compose it from; the table keeps what was sent.
        CheckConstraint("(subject IS NULL) = (body IS NULL)", name="composed_whole"),
        CheckConstraint("body IS NOT NULL OR payment_intent_id IS NOT NULL", name="composable"),
        CheckConstraint("status <> 'sent' OR body IS NOT NULL", name="sent_is_composed"),
        Index("ix_outbox_pending", "created_at", postgresql_where=text("status = 'pending'")),
    )
