"""The beat reconciler: Celery messages are only nudges, the rows are the truth.

Any open intent whose current step has not moved by its `step_deadline_at` (a lost
message, a worker killed mid-task, a flushed broker) is claimed by ONE statement
(FOR UPDATE SKIP LOCKED … RETURNING: two reconcilers, or a worker busy with the intent,
are never blocked nor doubled, and no row lock outlives that statement's work), its
deadline pushed back with a per-intent capped exponential backoff, and its step (from
the step table) re-driven after commit. After `reconciler_redrive_max` re-drives, or
when an attempt PSE may still approve is past the payment promise, the intent is not
re-driven again: the same statement files it in the review queue and clears its
deadline, so nothing drives it until a person decides.

Alerts (intents older than the payment promise) are a read in a transaction of their
own (`promise_breaches`): they neither hold the claim's locks nor roll back with it.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from domain.payment_states import AttemptKind, IntentState
from domain.payment_steps import OPEN_STATES, Step, may_still_be_approved_sql, states_sql, step_for
from zona_privada.settings import Settings, get_settings

from ..models import PaymentIntent, ReviewKind, ReviewState
from .intents import utcnow

log = logging.getLogger(__name__)

BACKOFF_FACTOR_MAX = 16
PENDING_STATES = tuple(s for s in IntentState if s in OPEN_STATES)


@dataclass(frozen=True, slots=True)
class Redrive:
    intent_id: int
    step: Step


@dataclass(frozen=True, slots=True)
class ReconcileResult:
    redrives: tuple[Redrive, ...] = field(default_factory=tuple)
    reviewed: tuple[int, ...] = field(default_factory=tuple)


def next_deadline(now: datetime, redrive_count: int, settings: Settings) -> datetime:
    """When the intent's step is looked at again after its `redrive_count`-th re-drive."""
    factor = min(2 ** min(redrive_count, 10), BACKOFF_FACTOR_MAX)
    return now + timedelta(seconds=settings.intent_step_deadline_s * factor)


# One statement: lock the due intents (skipping those someone holds), learn how each is
# funded, bump its count and push its deadline (the same backoff as next_deadline), or
# clear the deadline and file a review item when it has had its re-drives or waits on
# PSE past the promise. RETURNING gives the worker what to enqueue after commit.
_CLAIM_SQL = text(f"""
    WITH due AS (
        SELECT p.id, p.state, p.created_at FROM payment_intents p
        WHERE p.state IN ({states_sql(OPEN_STATES)}) AND p.step_deadline_at <= :now
          AND NOT (p.id = ANY(CAST(:queued AS bigint[])))
        ORDER BY p.step_deadline_at
        LIMIT :batch
        FOR UPDATE SKIP LOCKED
    ), facts AS (
        SELECT d.id,
               EXISTS (SELECT 1 FROM funding_attempts f
                       WHERE f.intent_id = d.id AND f.kind = '{AttemptKind.PSE.value}') AS external,
               -- Only a funding intent waits on PSE's answer; a funded one was approved
               -- (its PSE attempt is booked by the settle), and must be settled, not filed.
               -- Past its funding window it waits no longer: it is expired (the attempt
               -- outlives it, and a late approval is applied or refunded), not filed.
               d.state = '{IntentState.FUNDING.value}' AND d.created_at > :window_cutoff AND EXISTS (
                   SELECT 1 FROM funding_attempts f
                   WHERE f.intent_id = d.id AND {may_still_be_approved_sql("f")}) AS awaiting
        FROM due d
    ), claimed AS (
        UPDATE payment_intents p
        SET redrive_count = p.redrive_count + 1,
            step_deadline_at = CASE
                WHEN p.redrive_count + 1 > :redrive_max OR (f.awaiting AND p.created_at <= :promise_cutoff) THEN NULL
                ELSE :now + make_interval(secs => :deadline_s * least(power(2, least(p.redrive_count + 1, 10)),
                                                                      :factor_max))
            END
        FROM facts f
        WHERE p.id = f.id
        RETURNING p.id, p.state::text AS state, p.redrive_count, p.total_amount, p.created_at, f.external,
                  f.awaiting, p.step_deadline_at IS NULL AS reviewed
    ), filed AS (
        INSERT INTO review_items (kind, payment_intent_id, reason, amount, detail)
        SELECT CASE WHEN c.awaiting THEN '{ReviewKind.AWAITING_PAST_DEADLINE.value}'
                    ELSE '{ReviewKind.REDRIVES_EXHAUSTED.value}' END,
               c.id,
               CASE WHEN c.awaiting
                    THEN 'Un intento de pago que PSE aún puede aprobar superó el plazo del pago'
                    ELSE 'El paso del pago no avanzó tras ' || (c.redrive_count - 1) || ' reintentos' END,
               c.total_amount,
               jsonb_build_object('state', c.state, 'redrive_count', c.redrive_count - 1,
                                  'created_at', c.created_at,
                                  'attempts', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                                                   'id', a.id, 'kind', a.kind, 'state', a.state,
                                                   'amount', a.amount, 'gmf', a.gmf_amount) ORDER BY a.id), '[]')
                                               FROM funding_attempts a WHERE a.intent_id = c.id))
        FROM claimed c WHERE c.reviewed
        ON CONFLICT (payment_intent_id) WHERE state = '{ReviewState.OPEN.value}' DO NOTHING
    )
    SELECT id, state, redrive_count, external, reviewed FROM claimed ORDER BY id""")


def reconcile(
    session: Session, *, now: datetime | None = None, settings: Settings | None = None,
    queued: Collection[int] = (),
) -> ReconcileResult:
    """Claim the due intents in one statement; returns the steps to enqueue after commit
    and the intents filed for review. `queued`: intents whose message still waits in the
    broker, left alone (not lost, only late). The caller commits."""
    settings = settings or get_settings()
    now = now or utcnow()
    rows = session.execute(_CLAIM_SQL, {
        "now": now, "batch": settings.reconciler_batch, "redrive_max": settings.reconciler_redrive_max,
        "promise_cutoff": now - timedelta(seconds=settings.payment_promise_s),
        "window_cutoff": now - timedelta(seconds=settings.pse_funding_window_s),
        "deadline_s": settings.intent_step_deadline_s, "factor_max": BACKOFF_FACTOR_MAX,
        "queued": sorted(queued),
    }).all()
    redrives: list[Redrive] = []
    reviewed: list[int] = []
    for intent_id, state, redrive_count, external, to_review in rows:
        if to_review:
            reviewed.append(intent_id)
            log.warning("payment intent sent to review", extra={"payment_intent_id": intent_id,
                                                                 "redrive_count": redrive_count - 1})
            continue
        step = step_for(IntentState(state), external=external)
        # Every open state has a driven step (domain.payment_steps checks it at import).
        assert step is not None, f"no step drives {state}"
        redrives.append(Redrive(intent_id, step))
        log.info("payment intent re-driven", extra={"payment_intent_id": intent_id, "step": step.value,
                                                    "redrive_count": redrive_count})
    return ReconcileResult(tuple(redrives), tuple(reviewed))


def promise_breaches(session: Session, *, now: datetime | None = None, settings: Settings | None = None) -> list[int]:
    """Alert (structured log now, operator console later) for every unfinished intent
    older than the payment promise (half an hour by default). Run it in its own
    transaction: it only reads, and must not wait on nor lengthen the claim."""
    settings = settings or get_settings()
    now = now or utcnow()
    late = session.execute(
        select(PaymentIntent.id, PaymentIntent.state, PaymentIntent.created_at, PaymentIntent.redrive_count)
        .where(
            PaymentIntent.state.in_(PENDING_STATES),
            PaymentIntent.created_at <= now - timedelta(seconds=settings.payment_promise_s),
        )
        .order_by(PaymentIntent.created_at)
        .limit(settings.reconciler_alert_batch)
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


# Once per intent, also with several beats seeing it: the audit row is the mark (looked
# up through the member's index), the outbox's dedupe key guards each e-mail again.
_BREACH_MARK_SQL = text("""
    INSERT INTO audit_events (member_id, kind, payment_intent_id, detail)
    SELECT p.id_member, 'payment_promise_breached', p.id,
           jsonb_build_object('state', p.state, 'created_at', p.created_at, 'total', p.total_amount)
    FROM (SELECT id, member_id AS id_member, state::text AS state, created_at, total_amount
          FROM payment_intents WHERE id = ANY(:ids)) p
    WHERE NOT EXISTS (SELECT 1 FROM audit_events a WHERE a.member_id = p.id_member
                      AND a.kind = 'payment_promise_breached' AND a.payment_intent_id = p.id)
    RETURNING payment_intent_id, detail""")


def notify_promise_breaches(session: Session, intent_ids: Collection[int], *,
                            settings: Settings | None = None) -> list[int]:
    """The intents in `intent_ids` (promise_breaches' answer) seen breached for the first
    time: marked, and each operator in ZONA_OPERATOR_EMAILS e-mailed once through the
    outbox, in the caller's transaction. Returns the newly breached ones."""
    from .. import outbox

    if not intent_ids:
        return []
    settings = settings or get_settings()
    new = session.execute(_BREACH_MARK_SQL, {"ids": sorted(intent_ids)}).all()
    minutes = settings.payment_promise_s // 60
    for intent_id, detail in new:
        subject = f"Pago Zona Privada No. {intent_id} sin terminar después de {minutes} minutos"
        body = (f"El pago No. {intent_id} por ${detail['total']} sigue en estado «{detail['state']}» "
                f"desde {detail['created_at']} (UTC) y superó el plazo prometido al asociado de {minutes} minutos.\n"
                "Revíselo en la consola de operación (cola de revisión) y en Flower.")
        for recipient in settings.operator_emails:
            outbox.enqueue(session, channel="email", recipient=recipient, subject=subject, body=body,
                           dedupe_key=f"promise-breach:{intent_id}:{recipient}")
    return [row[0] for row in new]
