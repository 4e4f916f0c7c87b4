"""Payment tasks: thin wrappers over db.payments (DESIGN §4, warehouse's wiring).

Each task opens one session scope, calls one function that locks the intent and moves
its state, commits, and only then enqueues the next step. Late acks: a worker that dies
leaves the message unacked; the reconciler re-drives any intent whose deadline passed,
so a lost message costs seconds, never a payment. Retries only for transient database
errors (connection loss, serialization failure, deadlock), bounded, with backoff.
"""
from __future__ import annotations

import json
import logging
import random
import time
from collections import Counter
from collections.abc import Callable

from celery import Task, shared_task
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import Session

from db.engine import session_scope
from db.models import PaymentIntent
from db.payments import batch, processing
from db.payments.processing import StepResult
from db.payments.reconcile import notify_promise_breaches, promise_breaches, reconcile
from zona_privada.metrics import PROMISE_BREACHES, RECONCILER_REDRIVES, RECONCILER_REVIEWED
from zona_privada.settings import get_settings

from .faults import fault_point

log = logging.getLogger(__name__)

RETRY_MAX = 5
RETRY_BACKOFF_BASE_S = 0.5
RETRY_BACKOFF_MAX_S = 10.0
# SQLSTATEs worth another try: serialization failure, deadlock, lock timeout, and the
# connection-exception class (08xxx) / server shutting down.
TRANSIENT_SQLSTATES = frozenset({"40001", "40P01", "55P03", "57P01", "57P02", "57P03"})


def is_transient(exc: BaseException) -> bool:
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated or isinstance(exc, (OperationalError, InterfaceError)):
        return True
    sqlstate = getattr(exc.orig, "sqlstate", None) or ""
    return sqlstate in TRANSIENT_SQLSTATES or sqlstate.startswith("08")


def backoff_s(retries: int) -> float:
    """Exponential with full jitter, capped (tenacity's and AWS's advice)."""
    return random.uniform(0, min(RETRY_BACKOFF_MAX_S, RETRY_BACKOFF_BASE_S * 2**retries))


def run_step(task: Task, step: str, work: Callable[[Session, int], StepResult], intent_id: int) -> dict[str, object]:
    fault_point(step, "task_start")
    try:
        with session_scope() as session:
            result = work(session, intent_id)
            session.flush()
            fault_point(step, "before_commit")
    except Exception as exc:
        if is_transient(exc):
            log.warning("transient database error; retrying", extra={"payment_intent_id": intent_id, "step": step})
            raise task.retry(exc=exc, countdown=backoff_s(task.request.retries), max_retries=RETRY_MAX) from exc
        log.exception("payment step failed", extra={"payment_intent_id": intent_id, "step": step})
        raise
    fault_point(step, "after_commit")
    for next_step in result.next_steps:
        enqueue_step(next_step, intent_id)
    log.info("payment step done", extra={"payment_intent_id": intent_id, "step": step, "outcome": result.outcome.value})
    return {"intent_id": intent_id, "outcome": result.outcome.value,
            "state": result.state.value if result.state else None}


@shared_task(name="workers.payment_tasks.apply_intent", bind=True, acks_late=True, max_retries=RETRY_MAX)
def apply_intent(self: Task, intent_id: int) -> dict[str, object]:
    """Savings-only: created → applied (or rejected) in one transaction."""
    return run_step(self, "apply", processing.apply_intent, intent_id)


@shared_task(name="workers.payment_tasks.hold_intent", bind=True, acks_late=True, max_retries=RETRY_MAX)
def hold_intent(self: Task, intent_id: int) -> dict[str, object]:
    """An intent waiting on an outside party: reserve its savings part (pending holds)."""
    return run_step(self, "hold", processing.place_holds, intent_id)


@shared_task(name="workers.payment_tasks.settle_intent", bind=True, acks_late=True, max_retries=RETRY_MAX)
def settle_intent(self: Task, intent_id: int) -> dict[str, object]:
    """Funded: post the holds and apply, in one transaction."""
    return run_step(self, "settle", processing.settle_intent, intent_id)


@shared_task(name="workers.payment_tasks.expire_intent", bind=True, acks_late=True, max_retries=RETRY_MAX)
def expire_intent(self: Task, intent_id: int) -> dict[str, object]:
    """Funding past its holds' TTL: void them (nothing is applied in part)."""
    return run_step(self, "expire", processing.expire_if_overdue, intent_id)


from .pse_tasks import pse_finalize, pse_send  # noqa: E402  (the PSE steps, by intent)

STEP_TASKS: dict[str, Task] = {
    "apply": apply_intent,
    "hold": hold_intent,
    "settle": settle_intent,
    "expire": expire_intent,
    "pse_send": pse_send,
    "pse_finalize": pse_finalize,
}


STEP_TASK_NAMES = frozenset(task.name for task in STEP_TASKS.values())


def enqueue_step(step: str, intent_id: int) -> None:
    STEP_TASKS[step].apply_async(args=[intent_id])


# --- savings-only payments in batches (issue 12) -------------------------------------
#
# The web does not publish one message per savings payment: it sets a short-lived flag
# in Redis and publishes an `apply_ready` message only when the flag was not set, so under
# load a handful of messages a second carry every payment. A drain applies batches
# (db/payments/batch.py); once a round is not full it has caught up: it clears the flag
# and goes on until a round finds nothing. A payment committed before the flag was
# cleared (whose web saw the flag and published nothing) is found by a round after the
# clearing; one committed after it finds no flag and publishes. A drain that dies leaves
# the flag to expire (NUDGE_TTL_MS) and its payments to the next drain or, at their
# deadline, to the reconciler's per-intent re-drive.
NUDGE_KEY = "zp:apply:nudge"
NUDGE_TTL_MS = 250
# A drain under a steady load hands over to a fresh message after this long: well
# inside the task time limits, and other tasks of the queue (a one-time code's message)
# never wait behind a drain for longer.
DRAIN_MAX_S = 3.0

_nudge_redis: object | None = None


def _nudge_client():  # noqa: ANN202 - redis.Redis, imported lazily as the web does
    global _nudge_redis
    if _nudge_redis is None:
        import redis

        # redis-py's pool notices a fork and reconnects in the child.
        _nudge_redis = redis.Redis.from_url(get_settings().broker_redis_url)
    return _nudge_redis


def nudge_apply() -> None:
    """After a savings-only intent committed: make sure a drain will look for it."""
    if _nudge_client().set(NUDGE_KEY, 1, nx=True, px=NUDGE_TTL_MS):
        apply_ready.apply_async()


@shared_task(name="workers.payment_tasks.apply_ready", bind=True, acks_late=True, max_retries=RETRY_MAX)
def apply_ready(self: Task) -> dict[str, object]:
    """Apply every ready savings-only intent, a batch per transaction (see nudge_apply)."""
    limit = max(get_settings().apply_batch, 1)
    fault_point("apply", "task_start")
    started = time.monotonic()
    skip: set[int] = set()
    outcomes: Counter[str] = Counter()
    released = helped = False
    while True:
        try:
            with session_scope() as session:
                done = batch.apply_ready(session, limit=limit, skip=skip)
                fault_point("apply", "before_commit")
        except Exception as exc:
            if is_transient(exc):
                log.warning("transient database error in a batch; retrying", extra={"step": "apply"})
                raise self.retry(exc=exc, countdown=backoff_s(self.request.retries), max_retries=RETRY_MAX) from exc
            log.exception("payment batch failed", extra={"step": "apply"})
            raise
        fault_point("apply", "after_commit")
        if done.claimed == limit and not helped:
            # A full batch: more are waiting than one drain takes at once, so ask another
            # worker process to share them (it asks the next one if it finds a full batch
            # too); without it a backlog nudged once would be applied by one process.
            apply_ready.apply_async()
            helped = True
        skip.update(done.failed)
        outcomes.update(r.outcome.value for r in done.results)
        outcomes.update(busy=len(done.busy), failed=len(done.failed))
        if done.claimed == 0 and released:
            break
        if done.claimed < limit and not released:
            # Caught up: clear the flag now; the next round is the look after it.
            _nudge_client().delete(NUDGE_KEY)
            released = True
        elif time.monotonic() - started > DRAIN_MAX_S:
            apply_ready.apply_async()
            break
    return dict(outcomes)


def enqueue_intent(intent_id: int, step: str | None = None) -> str | None:
    """What the web calls AFTER its transaction committed: nudge the intent's next step.

    Safe to call twice or not at all: a duplicate finds the state moved and does nothing,
    a missing one is caught by the reconciler at the intent's deadline.
    """
    if step is None:
        with session_scope() as session:
            state = session.execute(select(PaymentIntent.state).where(PaymentIntent.id == intent_id)).scalar_one_or_none()
            if state is None:
                return None
            step = processing.step_for(state, external=processing.has_external_funding(session, intent_id))
    if step == "apply" and get_settings().apply_batch > 0:
        nudge_apply()
    elif step is not None:
        enqueue_step(step, intent_id)
    return step


# Above this many waiting messages the queue is a backlog: its messages are late, not
# lost, and reading them all every beat would cost more than it saves.
QUEUE_SCAN_MAX = 5000


def queued_intent_ids() -> set[int] | None:
    """Intents whose step message still waits in the broker's queue (None: a backlog
    too long to read; treat every intent as queued). Read-only: LLEN, then LRANGE."""
    import redis

    from .celery_app import app

    settings = get_settings()
    client = redis.Redis.from_url(settings.broker_redis_url)
    try:
        # The PSE steps (send, finalize) wait on their own queue.
        queues = (app.conf.task_default_queue, settings.pse_queue)
        if sum(client.llen(queue) for queue in queues) > QUEUE_SCAN_MAX:
            return None
        queued: set[int] = set()
        drain_waiting = False
        for queue in queues:
            for raw in client.lrange(queue, 0, QUEUE_SCAN_MAX):
                headers = json.loads(raw).get("headers") or {}
                if headers.get("task") in STEP_TASK_NAMES:
                    # Kombu keeps the task's arguments readable in `argsrepr` ("[42]").
                    queued.update(int(a) for a in json.loads(headers.get("argsrepr") or "[]"))
                drain_waiting = drain_waiting or headers.get("task") == apply_ready.name
        if drain_waiting:
            # A waiting drain will apply every ready savings payment: none is lost.
            with session_scope() as session:
                ready = batch.ready_ids(session, limit=QUEUE_SCAN_MAX + 1)
            if len(ready) > QUEUE_SCAN_MAX:
                return None
            queued.update(ready)
        return queued
    finally:
        client.close()


@shared_task(name="workers.payment_tasks.reconcile_payments", bind=True, acks_late=True)
def reconcile_payments(self: Task) -> dict[str, object]:
    """Beat: alert on broken promises (in a transaction of its own), then re-drive the
    intents past their step's deadline and file the hopeless ones for review. No
    retries: the next beat run is the retry."""
    fault_point("reconcile", "task_start")
    # Alerts first, on their own: a claim that fails must not take them down with it.
    with session_scope() as session:
        alerts = promise_breaches(session)
        breached = notify_promise_breaches(session, alerts)
    PROMISE_BREACHES.inc(len(breached))
    # An intent whose message still waits in the queue is late, not lost: nudging it
    # again would only add a duplicate behind it (up to a batch every beat under a
    # backlog), so the claim leaves it alone (its count and deadline unchanged).
    queued = queued_intent_ids()
    if queued is None:
        log.info("payment reconciler: broker backlog; no re-drive this run")
        return {"redriven": [], "reviewed": [], "alerts": alerts}
    with session_scope() as session:
        result = reconcile(session, queued=queued)
        fault_point("reconcile", "before_commit")
    fault_point("reconcile", "after_commit")
    for redrive in result.redrives:
        enqueue_step(redrive.step, redrive.intent_id)
        RECONCILER_REDRIVES.labels(redrive.step.value).inc()
    RECONCILER_REVIEWED.inc(len(result.reviewed))
    return {"redriven": [r.intent_id for r in result.redrives], "reviewed": list(result.reviewed), "alerts": alerts}
