"""Fault injection for tests: ZONA_FAULT=<step>:<point> makes the worker SIGKILL itself
at that point of that step, so tests crash it exactly where they mean to instead of
racing a timer. Inert unless the setting is present.

Points, in the order a step meets them:
- `task_start`: inside the task, before its transaction ("inside the next task" for the
  step that enqueued it);
- `before_commit`: the step's work is done and flushed, the transaction still open;
- `after_commit`: committed, the next step not yet enqueued and the message not acked.
"""
from __future__ import annotations

import logging
import os
import signal
import sys

from zona_privada.settings import ConfigError, get_settings

log = logging.getLogger(__name__)

STEPS = ("apply", "hold", "settle", "expire", "reconcile", "pse_send", "pse_query", "pse_finalize")
POINTS = ("task_start", "before_commit", "after_commit")


def parse_fault(raw: str | None) -> tuple[str, str] | None:
    if not raw:
        return None
    step, sep, point = raw.partition(":")
    if not sep or step not in STEPS or point not in POINTS:
        raise ConfigError(f"ZONA_FAULT must be <step>:<point> with step in {STEPS} and point in {POINTS}, not {raw!r}")
    return step, point


def fault_point(step: str, point: str) -> None:
    """Die here if ZONA_FAULT names this step and point; otherwise do nothing."""
    assert step in STEPS and point in POINTS, (step, point)
    if parse_fault(get_settings().fault) != (step, point):
        return
    log.critical("ZONA_FAULT: killing the worker", extra={"step": step, "point": point})
    for handler in logging.getLogger().handlers:
        handler.flush()
    sys.stdout.flush()
    sys.stderr.flush()
    kill_worker()


def _is_pool_child() -> bool:
    try:
        from billiard.process import current_process
    except ImportError:  # pragma: no cover - celery always brings billiard
        return False
    return current_process().name != "MainProcess"


def kill_worker(kill=os.kill, killpg=os.killpg) -> None:  # noqa: ANN001
    """SIGKILL the whole worker as a crash would: the prefork main process (which holds
    the broker connection and the unacked message) and this process. When the worker
    leads its own process group (docker, the tests), the pool siblings go with it."""
    me = os.getpid()
    main = os.getppid() if _is_pool_child() else me
    if os.getpgid(0) == main:
        killpg(main, signal.SIGKILL)
    if main != me:
        kill(main, signal.SIGKILL)
    kill(me, signal.SIGKILL)
