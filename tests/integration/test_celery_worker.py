"""A real Celery worker process, on the real broker, writes to the real database; and
/healthz answers 200 only while database, Redis and a worker all answer."""
from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select

from db.engine import session_scope
from db.models import AuditEvent
from tests.support.ports import free_port
from tests.processes import start_web, start_worker, wait_for, wait_http

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def healthz(port: int) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_worker_runs_task_and_healthz_tracks_it(clean_db: str, redis_client, subprocess_env, tmp_path: Path) -> None:  # noqa: ANN001
    from workers.tasks import record_heartbeat

    port = free_port()
    web = start_web(subprocess_env, tmp_path, port, workers=1)
    worker = start_worker(subprocess_env, tmp_path, concurrency=1)
    try:
        marker = f"test-{uuid.uuid4().hex[:8]}"
        record_heartbeat.delay(marker)  # through the broker, not called in-process

        def written() -> bool:
            with session_scope() as session:
                rows = session.execute(select(AuditEvent.detail).where(AuditEvent.kind == "worker_heartbeat")).scalars()
                return any(d.get("source") == marker for d in rows)

        assert wait_for(written, 30), f"worker never wrote the row:\n{worker.log()}"
        assert wait_http(f"http://127.0.0.1:{port}/healthz", 30) == 200, web.log()
        status, body = healthz(port)
        assert status == 200 and body["checks"]["workers"]["workers"], body

        worker.stop()
        status, body = healthz(port)
        assert status == 503 and body["checks"]["workers"]["ok"] is False
        assert body["checks"]["database"]["ok"] and body["checks"]["redis"]["ok"]
    finally:
        worker.stop()
        web.stop()
