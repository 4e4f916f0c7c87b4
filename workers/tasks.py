"""Tasks: thin wrappers that open one session scope and call a db/domain function."""
from __future__ import annotations

import logging

from celery import shared_task

from db.engine import session_scope
from db.heartbeat import record_beat

log = logging.getLogger(__name__)


@shared_task(name="workers.tasks.record_heartbeat", acks_late=True)
def record_heartbeat(source: str = "beat") -> int:
    """Writes a row proving a worker ran a task against the database; beat sends it
    every minute and the operator console shows the last one."""
    with session_scope() as session:
        beat_id = record_beat(session, source)
    log.info("heartbeat recorded", extra={"beat_id": beat_id, "source": source})
    return beat_id
