"""Worker heartbeats, recorded as audit events (kind `worker_heartbeat`)."""
from __future__ import annotations

from sqlalchemy import insert
from sqlalchemy.orm import Session

from .models import AuditEvent


def record_beat(session: Session, source: str) -> int:
    return session.execute(
        insert(AuditEvent).values(kind="worker_heartbeat", detail={"source": source[:60]}).returning(AuditEvent.id)
    ).scalar_one()
