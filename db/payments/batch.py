"""Applying savings-only intents in batches: one transaction, one savepoint per intent.

Why: per payment, a Celery message, a transaction and a receipt-counter round trip cost
as much CPU as the payment's own statements (issue 12). A batch claims up to `limit`
ready intents with `FOR UPDATE SKIP LOCKED` (two workers never take the same one), applies
each with `processing.apply_intent` inside its own savepoint, so an intent that fails or
waits on a lock is rolled back alone and the others commit, and numbers the applied ones'
receipts in ONE statement just before the commit (the global counter's lock is held for
that statement, not for the batch).

Lock order inside a batch differs from a single payment's (intent, accounts, obligations):
intent 2's accounts are locked after intent 1's. Two batches could then wait on each
other; `lock_timeout` turns such a wait into an error in the waiting intent's savepoint,
which is rolled back and left for the next round, instead of a deadlock that would undo
a whole batch.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from domain.payment_states import AttemptKind, IntentState
from zona_privada.settings import Settings, get_settings

from .processing import Outcome, StepResult, apply_intent, number_receipts

log = logging.getLogger(__name__)

# Ready: created, every funding attempt from savings (an intent with a PSE attempt takes
# the hold path). Oldest deadline first, through the open intents' partial index.
_READY = f"""
    i.state = '{IntentState.CREATED.value}'
    AND NOT EXISTS (SELECT 1 FROM funding_attempts a
                    WHERE a.intent_id = i.id AND a.kind = '{AttemptKind.PSE.value}')"""
# The claim also sets this transaction's lock_timeout (below), one round trip less per
# batch; with nothing claimed nothing waits, so nothing needs it.
_CLAIM_READY_SQL = text(f"""
    SELECT i.id, set_config('lock_timeout', :lock_wait, true) FROM payment_intents i
    WHERE {_READY} AND i.id <> ALL(CAST(:skip AS bigint[]))
    ORDER BY i.step_deadline_at, i.id
    LIMIT :limit
    FOR UPDATE OF i SKIP LOCKED""")
_READY_IDS_SQL = text(f"SELECT i.id FROM payment_intents i WHERE {_READY} LIMIT :limit")


def ready_ids(session: Session, *, limit: int) -> list[int]:
    """The savings-only intents a drain would take (read, not claimed): what a drain
    message waiting in the broker will apply."""
    return list(session.execute(_READY_IDS_SQL, {"limit": limit}).scalars())


# A lock held by another batch longer than this is given up (the intent waits a round).
LOCK_WAIT = "250ms"
# SQLSTATEs of a lock given up: lock_not_available (lock_timeout), deadlock_detected.
_LOCK_SQLSTATES = frozenset({"55P03", "40P01"})


@dataclass
class Batch:
    claimed: int = 0
    results: list[StepResult] = field(default_factory=list)
    receipts: dict[int, int] = field(default_factory=dict)
    busy: list[int] = field(default_factory=list)     # a lock given up: try again later
    failed: list[int] = field(default_factory=list)   # an error: left to the reconciler

    @property
    def applied(self) -> list[int]:
        return [r.intent_id for r in self.results if r.outcome is Outcome.APPLIED]


def apply_ready(session: Session, *, limit: int, skip: Iterable[int] = (), now: datetime | None = None,
                settings: Settings | None = None) -> Batch:
    """Claim and apply up to `limit` ready savings-only intents in the caller's transaction
    (the caller commits). `skip`: intents this caller already failed, not claimed again."""
    settings = settings or get_settings()
    ids = list(session.execute(_CLAIM_READY_SQL, {"limit": limit, "skip": list(skip), "lock_wait": LOCK_WAIT}
                               ).scalars())
    batch = Batch(claimed=len(ids))
    for intent_id in ids:
        try:
            with session.begin_nested():
                result = apply_intent(session, intent_id, now=now, settings=settings, numbered=False)
        except DBAPIError as exc:
            sqlstate = getattr(exc.orig, "sqlstate", None)
            if sqlstate in _LOCK_SQLSTATES:
                batch.busy.append(intent_id)
                continue
            if exc.connection_invalidated:
                raise  # the whole transaction is gone: the task retries
            log.exception("payment in batch failed", extra={"payment_intent_id": intent_id})
            batch.failed.append(intent_id)
            continue
        except Exception:
            # A bug, not a business refusal (those are StepResults): this intent alone is
            # rolled back; the reconciler re-drives it alone and, failing again, files it
            # for review.
            log.exception("payment in batch failed", extra={"payment_intent_id": intent_id})
            batch.failed.append(intent_id)
            continue
        batch.results.append(result)
    if batch.applied:
        # The counter waits as any payment does: its lock is last and held only to commit.
        session.execute(text("SET LOCAL lock_timeout TO DEFAULT"))
        batch.receipts = number_receipts(session, batch.applied)
    for intent_id, number in batch.receipts.items():
        log.info("payment intent applied", extra={"payment_intent_id": intent_id, "receipt_number": number})
    return batch


__all__ = ["Batch", "apply_ready", "ready_ids"]
