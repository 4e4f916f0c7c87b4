"""Prometheus metrics every process records (issue 12), in prometheus-client's
multiprocess mode: gunicorn's and Celery's forked workers each write their own mmap
files under PROMETHEUS_MULTIPROC_DIR (set by `./zona up` to <state>/metrics, emptied at
start), and /metrics (webapp/metrics.py) sums them with a MultiProcessCollector. Without
that variable (a unit test, a one-off script) the values live in the process only.

Only counters and histograms live here: they are cheap (a write to a memory-mapped file,
no database or network round trip on the payment path). Everything that is a state of
the system (intents by state, open review items, queue depth) is read at scrape time by
webapp/metrics.py instead, so no process has to keep a gauge right.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime

from prometheus_client import Counter, Histogram
from sqlalchemy import event
from sqlalchemy.orm import Session

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Submit (the intent's created_at) to applied: the half-hour promise is the 1800 bucket.
PAYMENT_APPLIED_SECONDS = Histogram(
    "zona_payment_submit_to_applied_seconds",
    "Seconds from the member's submit (intent created) to the payment applied",
    buckets=(0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200),
)
PSE_CALLS = Counter(
    "zona_pse_calls", "Calls to PSE by operation and outcome (ok, or the error class)", ["operation", "outcome"])
RECONCILER_REDRIVES = Counter(
    "zona_reconciler_redrives", "Intents the beat reconciler re-drove, by step", ["step"])
RECONCILER_REVIEWED = Counter(
    "zona_reconciler_reviewed", "Intents the beat reconciler filed for review")
PROMISE_BREACHES = Counter(
    "zona_payment_promise_breaches", "Intents first seen unfinished past the payment promise (once per intent)")

_PENDING_KEY = "zona_metrics_on_commit"


def on_commit(session: Session, record: Callable[[], None]) -> None:
    """Record a metric only once the caller's transaction commits (a rolled-back apply,
    retried by Celery, must not count twice). Kept in the session's info dict: no
    listener per call, nothing on the database."""
    session.info.setdefault(_PENDING_KEY, []).append(record)


def observe_applied(session: Session, created_at: datetime, now: datetime) -> None:
    """The submit-to-applied latency of one intent, recorded at commit."""
    seconds = max((now - created_at).total_seconds(), 0.0)
    on_commit(session, lambda: PAYMENT_APPLIED_SECONDS.observe(seconds))


@event.listens_for(Session, "after_commit")
def _record_committed(session: Session) -> None:
    pending = session.info.pop(_PENDING_KEY, None)
    for record in pending or ():
        record()


@event.listens_for(Session, "after_rollback")
def _drop_rolled_back(session: Session) -> None:
    # The real (outermost) rollback only: a savepoint rolled back inside a payment's
    # transaction does not undo what the payment itself will commit.
    session.info.pop(_PENDING_KEY, None)


def mark_process_dead(pid: int | None = None) -> None:
    """prometheus-client's multiprocess docs: call on worker exit (gunicorn's child_exit,
    Celery's worker_process_shutdown) so its live gauges stop counting. We keep no live
    gauges, but the call is cheap and keeps the folder right if one is ever added."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid if pid is not None else os.getpid())


def prepare_multiproc_dir(path: os.PathLike[str] | str) -> str:
    """Empty (or create) the folder at start: files left by a previous run's processes
    would otherwise be summed into this run's counters."""
    import shutil
    from pathlib import Path

    folder = Path(path)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    return str(folder)
