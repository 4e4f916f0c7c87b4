"""The beat reconciler: Celery messages are only nudges, the rows are the truth.

Any intent whose current step has not moved by its `step_deadline_at` (a lost message, a
worker killed mid-task, a flushed broker) is claimed with FOR UPDATE SKIP LOCKED (two
reconcilers, or a worker busy with the intent, are never blocked nor doubled), its
deadline is pushed back with a capped exponential backoff, and its step is re-driven
after commit. Any intent older than the payment promise and not finished raises an alert.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from domain.payment_states import IntentState
from zona_privada.settings import Settings, get_settings

from ..models import PaymentIntent
from .intents import utcnow
from .processing import has_external_funding, step_for

log = logging.getLogger(__name__)

PENDING_STATES = tuple(s for s in IntentState if not s.is_terminal())
REDRIVE_BATCH_MAX = 500
ALERT_BATCH_MAX = 100
BACKOFF_FACTOR_MAX = 16


@dataclass(frozen=True, slots=True)
class Redrive:
    intent_id: int
    step: str


@dataclass(frozen=True, slots=True)
class ReconcileResult:
    redrives: tuple[Redrive, ...] = field(default_factory=tuple)
    alerts: tuple[int, ...] = field(default_factory=tuple)


def next_deadline(now: datetime, redrive_count: int, settings: Settings) -> datetime:
    factor = min(2 ** min(redrive_count, 10), BACKOFF_FACTOR_MAX)
    return now + timedelta(seconds=settings.intent_step_deadline_s * factor)


def reconcile(
    session: Session, *, now: datetime | None = None, settings: Settings | None = None, batch: int = REDRIVE_BATCH_MAX
) -> ReconcileResult:
    settings = settings or get_settings()
    now = now or utcnow()
    due = session.execute(
        select(PaymentIntent)
        .where(PaymentIntent.state.in_(PENDING_STATES), PaymentIntent.step_deadline_at <= now)
        .order_by(PaymentIntent.step_deadline_at)
        .limit(min(batch, REDRIVE_BATCH_MAX))
        .with_for_update(skip_locked=True)
    ).scalars().all()
    redrives: list[Redrive] = []
    for intent in due:
        step = step_for(intent.state, external=has_external_funding(session, intent.id))
        if step is None:  # cannot happen for PENDING_STATES; kept explicit for a new state
            continue
        intent.redrive_count += 1
        intent.step_deadline_at = next_deadline(now, intent.redrive_count, settings)
        redrives.append(Redrive(intent.id, step))
        log.info("payment intent re-driven", extra={"payment_intent_id": intent.id, "step": step,
                                                    "redrive_count": intent.redrive_count})
    session.flush()
    return ReconcileResult(tuple(redrives), tuple(promise_breaches(session, now=now, settings=settings)))


def promise_breaches(session: Session, *, now: datetime, settings: Settings) -> list[int]:
    """Alert (structured log now, operator console later) for every unfinished intent
    older than the payment promise (half an hour by default)."""
    late = session.execute(
        select(PaymentIntent.id, PaymentIntent.state, PaymentIntent.created_at, PaymentIntent.redrive_count)
        .where(
            PaymentIntent.state.in_(PENDING_STATES),
            PaymentIntent.created_at <= now - timedelta(seconds=settings.payment_promise_s),
        )
        .order_by(PaymentIntent.created_at)
        .limit(ALERT_BATCH_MAX)
    ).all()
    for intent_id, state, created_at, redrives in late:
        log.error(
            json.dumps({
                "event": "payment_promise_breached",
                "payment_intent_id": intent_id,
                "state": state.value,
                "created_at": created_at.isoformat(),
                "age_s": int((now - created_at).total_seconds()),
                "redrive_count": redrives,
            }),
            extra={"payment_intent_id": intent_id, "alert": "payment_promise_breached"},
        )
    return [row[0] for row in late]
