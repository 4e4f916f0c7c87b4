"""The notification outbox: a message is written in the same transaction as the fact it
reports, once per fact (dedupe_key), and a worker sends it after the commit."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from .models import OutboxMessage

CHANNELS = ("email", "sms")
# Secrets never enter the table: the row holds this marker and the task fills it in from
# its (redacted) arguments just before delivery.
SECRET_PLACEHOLDER = "[[CLAVE]]"
ERROR_MAX = 300


@dataclass(frozen=True, slots=True)
class Outgoing:
    id: int
    channel: str
    recipient: str
    subject: str
    body: str
    attempts: int


def enqueue(session: Session, *, channel: str, recipient: str, subject: str, body: str, dedupe_key: str) -> int:
    """Insert once per dedupe_key; a second call for the same fact returns the first id."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    inserted = session.execute(
        insert(OutboxMessage)
        .values(channel=channel, recipient=recipient, subject=subject[:200], body=body, dedupe_key=dedupe_key[:120])
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(OutboxMessage.id)
    ).scalar_one_or_none()
    if inserted is not None:
        return inserted
    return session.execute(
        select(OutboxMessage.id).where(OutboxMessage.dedupe_key == dedupe_key[:120])
    ).scalar_one()


def claim_pending(session: Session, message_id: int) -> Outgoing | None:
    """Lock a pending message for sending; None when already sent, failed or being sent
    by another worker right now (a redelivered task must not send twice in parallel)."""
    row = session.execute(
        select(OutboxMessage)
        .where(OutboxMessage.id == message_id, OutboxMessage.status == "pending")
        .with_for_update(skip_locked=True)
    ).scalar_one_or_none()
    if row is None:
        return None
    return Outgoing(row.id, row.channel, row.recipient, row.subject, row.body, row.attempts)


def mark_sent(session: Session, message_id: int, now: datetime | None = None) -> None:
    row = session.get(OutboxMessage, message_id)
    assert row is not None
    row.status = "sent"
    row.attempts += 1
    row.sent_at = now or datetime.now(timezone.utc)
    row.last_error = None


def mark_attempt_failed(session: Session, message_id: int, error: str, *, final: bool) -> None:
    row = session.get(OutboxMessage, message_id)
    if row is None or row.status != "pending":
        return
    row.attempts += 1
    row.last_error = error[:ERROR_MAX]
    if final:
        row.status = "failed"


REDISPATCH_BASE_S = 30.0
REDISPATCH_MAX_S = 900.0


def claim_stale_pending(session: Session, *, older_than_s: float, limit: int = 100) -> list[int]:
    """Pending messages due for a nudge: new ones nobody sent within `older_than_s` (a
    receipt written by a payment) and ones whose send task was lost or failed. Each is
    given its next nudge time here, with backoff, so a scan never queues a message that
    is already on its way. Messages waiting for a secret are left out: the secret was
    only ever in the lost task, so they can never be sent."""
    from datetime import timedelta

    from sqlalchemy import func, literal, update

    now = datetime.now(timezone.utc)
    due_at = func.coalesce(OutboxMessage.next_attempt_at, OutboxMessage.created_at + timedelta(seconds=older_than_s))
    rows = session.execute(
        select(OutboxMessage.id, OutboxMessage.attempts)
        .where(
            OutboxMessage.status == "pending",
            due_at <= literal(now),
            OutboxMessage.body.not_like(f"%{SECRET_PLACEHOLDER}%"),
        )
        .order_by(OutboxMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    for message_id, attempts in rows:
        wait_s = min(REDISPATCH_MAX_S, REDISPATCH_BASE_S * 2 ** min(attempts, 5))
        session.execute(
            update(OutboxMessage).where(OutboxMessage.id == message_id).values(next_attempt_at=now + timedelta(seconds=wait_s))
        )
    return [message_id for message_id, _ in rows]
