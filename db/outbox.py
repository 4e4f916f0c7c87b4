"""The notification outbox: a message is written in the same transaction as the fact it
reports, once per fact (dedupe_key), and a worker sends it after the commit.

Two ways out. The web's immediate messages (temporary keys, one-time codes, notices)
are composed when written and sent at once by their own task (`claim_pending`). A
payment's receipt is written bare by the payment transaction (`enqueue_receipt`) and the
dispatcher sends receipts in batches (`claim_due`, `compose`, `record_sent`,
`record_failed`), composing them from the stored payment and keeping what it sent."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import bindparam, case, func, literal, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from domain.payment_states import IntentState

from .models import OutboxMessage
from .payments.receipts import receipt_emails

CHANNELS = ("email", "sms")
# Secrets never enter the table: the row holds this marker and the task fills it in from
# its (redacted) arguments just before delivery.
SECRET_PLACEHOLDER = "[[CLAVE]]"
ERROR_MAX = 300
SUBJECT_MAX = 200
# A message that could not go out waits BASE·2^attempts (at most MAX) before the next try.
RETRY_BASE_S = 30.0
RETRY_MAX_S = 900.0


@dataclass(frozen=True, slots=True)
class Outgoing:
    id: int
    channel: str
    recipient: str
    subject: str
    body: str
    attempts: int


@dataclass(frozen=True, slots=True)
class Due:
    """A pending message claimed by the dispatcher; subject and body are None for a
    receipt not composed yet."""

    id: int
    channel: str
    recipient: str
    subject: str | None
    body: str | None
    attempts: int
    payment_intent_id: int | None


@dataclass(frozen=True, slots=True)
class Failure:
    """A claimed message that did not go out this time. `final`: never try it again."""

    id: int
    attempts: int
    error: str
    final: bool = False


def enqueue(session: Session, *, channel: str, recipient: str, subject: str, body: str, dedupe_key: str) -> int:
    """Insert once per dedupe_key; a second call for the same fact returns the first id."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    inserted = session.execute(
        insert(OutboxMessage)
        .values(channel=channel, recipient=recipient, subject=subject[:SUBJECT_MAX], body=body,
                dedupe_key=dedupe_key[:120])
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(OutboxMessage.id)
    ).scalar_one_or_none()
    if inserted is not None:
        return inserted
    return session.execute(
        select(OutboxMessage.id).where(OutboxMessage.dedupe_key == dedupe_key[:120])
    ).scalar_one()


def receipt_key(intent_id: int) -> str:
    return f"payment-receipt:{intent_id}"


def enqueue_receipt(session: Session, *, intent_id: int, member_id: int) -> None:
    """Queue the receipt e-mail of an applied payment, inside the transaction that
    applies it: ONE statement, no text composed (the dispatcher composes it from the
    stored payment when it sends it), the recipient read from the member in the same
    statement. Once per intent (a re-run inserts nothing). A member without an e-mail
    address gets no row: there is nowhere to send it, and the receipt stays printable."""
    # Plain SQL: this runs inside every payment, where building a Core statement per call
    # cost more than the insert itself.
    session.execute(_ENQUEUE_RECEIPT_SQL, {"member_id": member_id, "key": receipt_key(intent_id), "intent_id": intent_id})


_ENQUEUE_RECEIPT_SQL = text("""
    INSERT INTO notification_outbox (channel, recipient, dedupe_key, payment_intent_id)
    SELECT 'email', m.email, :key, :intent_id FROM members m
    WHERE m.id = :member_id AND btrim(coalesce(m.email, '')) <> ''
    ON CONFLICT (dedupe_key) DO NOTHING""")


def claim_pending(session: Session, message_id: int) -> Outgoing | None:
    """Lock a pending message for sending; None when already sent, failed or being sent
    by another worker right now (a redelivered task must not send twice in parallel).
    A receipt not composed yet is the dispatcher's: None as well."""
    row = session.execute(
        select(OutboxMessage)
        .where(OutboxMessage.id == message_id, OutboxMessage.status == "pending", OutboxMessage.body.is_not(None))
        .with_for_update(skip_locked=True)
    ).scalar_one_or_none()
    if row is None:
        return None
    assert row.subject is not None and row.body is not None
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


# --- the dispatcher's batches ------------------------------------------------------


def claim_due(session: Session, *, limit: int, grace_s: float, now: datetime | None = None) -> list[Due]:
    """Lock up to `limit` pending messages that are due, oldest first, for the rest of
    the caller's transaction (SKIP LOCKED: two dispatchers, or a web task, never hold
    the same message). Due: a bare receipt at once (nobody else sends it); a composed
    message `grace_s` after it was written (its own task is already on its way and only
    a lost one is caught up here); a message that failed once its backoff is over.
    Messages waiting for a secret are never claimed: the secret was only ever in their
    task's arguments."""
    now = now or datetime.now(timezone.utc)
    first_due = case(
        (OutboxMessage.body.is_(None), OutboxMessage.created_at),
        else_=OutboxMessage.created_at + timedelta(seconds=grace_s),
    )
    rows = session.execute(
        select(OutboxMessage.id, OutboxMessage.channel, OutboxMessage.recipient, OutboxMessage.subject,
               OutboxMessage.body, OutboxMessage.attempts, OutboxMessage.payment_intent_id)
        .where(
            OutboxMessage.status == "pending",
            func.coalesce(OutboxMessage.next_attempt_at, first_due) <= literal(now),
            or_(OutboxMessage.body.is_(None), OutboxMessage.body.not_like(f"%{SECRET_PLACEHOLDER}%")),
        )
        # The pending partial index's order: the scan stops after `limit` due rows
        # however many sent ones the table holds.
        .order_by(OutboxMessage.created_at, OutboxMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    return [Due(*row) for row in rows]


def compose(session: Session, due: Sequence[Due]) -> tuple[list[Outgoing], list[Failure]]:
    """Give every claimed message its text: composed ones as written, bare receipts from
    their payment (all of them in a few queries). A receipt whose payment is not
    applied has nothing to show: a Failure (it stays pending and is looked at again)."""
    texts = receipt_emails(session, [d.payment_intent_id for d in due if d.body is None and d.payment_intent_id])
    ready: list[Outgoing] = []
    failures: list[Failure] = []
    for d in due:
        if d.body is not None and d.subject is not None:
            ready.append(Outgoing(d.id, d.channel, d.recipient, d.subject, d.body, d.attempts))
        elif d.payment_intent_id in texts:
            subject, body = texts[d.payment_intent_id]
            ready.append(Outgoing(d.id, d.channel, d.recipient, subject[:SUBJECT_MAX], body, d.attempts))
        else:
            failures.append(Failure(d.id, d.attempts, f"payment intent {d.payment_intent_id} is not applied"))
    return ready, _ended_for_good(session, failures, {d.id: d.payment_intent_id for d in due})


def _ended_for_good(session: Session, failures: list[Failure], intent_of: dict[int, int | None]) -> list[Failure]:
    """A receipt whose payment ended without being applied (reversed before the receipt
    went out, say) will never have a text: that failure is final, not retried forever.
    One still on its way keeps waiting."""
    intents = [intent_of[f.id] for f in failures if intent_of.get(f.id)]
    if not intents:
        return failures
    states = dict(session.execute(text("SELECT id, state::text FROM payment_intents WHERE id = ANY(:ids)"),
                                  {"ids": intents}).all())
    ended = {i for i, state in states.items()
             if IntentState(state).is_terminal() and IntentState(state) is not IntentState.APPLIED}
    return [Failure(f.id, f.attempts, f"payment intent {intent_of[f.id]} ended {states[intent_of[f.id]]}: "
                    "no receipt to send", final=True) if intent_of.get(f.id) in ended else f for f in failures]


def record_sent(session: Session, messages: Sequence[Outgoing], now: datetime | None = None) -> None:
    """Mark sent, keeping the text that was sent (a receipt's is composed only now)."""
    if not messages:
        return
    table = OutboxMessage.__table__
    session.execute(
        update(table)
        .where(table.c.id == bindparam("m_id"), table.c.status == "pending")
        .values(status="sent", attempts=table.c.attempts + 1, sent_at=now or datetime.now(timezone.utc),
                last_error=None, subject=bindparam("m_subject"), body=bindparam("m_body")),
        [{"m_id": m.id, "m_subject": m.subject, "m_body": m.body} for m in messages],
    )


def record_failed(session: Session, failures: Sequence[Failure], now: datetime | None = None) -> None:
    """Count the attempt and keep the error; a final failure ends the message, any other
    waits out its backoff, so a failing message is tried less and less often."""
    if not failures:
        return
    now = now or datetime.now(timezone.utc)
    table = OutboxMessage.__table__
    session.execute(
        update(table)
        .where(table.c.id == bindparam("m_id"), table.c.status == "pending")
        .values(attempts=table.c.attempts + 1, last_error=bindparam("m_error"), status=bindparam("m_status"),
                next_attempt_at=bindparam("m_next")),
        [
            {"m_id": f.id, "m_error": f.error[:ERROR_MAX], "m_status": "failed" if f.final else "pending",
             "m_next": now + timedelta(seconds=retry_wait_s(f.attempts))}
            for f in failures
        ],
    )


def retry_wait_s(attempts: int) -> float:
    """How long a message that has failed `attempts` times before this one waits."""
    return min(RETRY_MAX_S, RETRY_BASE_S * 2 ** min(attempts, 5))
