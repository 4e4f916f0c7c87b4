"""How processes are wired for multiprocess metrics, and that a latency is recorded only
when the applying transaction commits (a rolled-back apply, retried, counts once)."""
from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from db.engine import session_scope
from zona_privada.metrics import observe_applied, prepare_multiproc_dir
from zona_privada.runtime import Supervisor, build_children

pytestmark = pytest.mark.integration


def applied_count() -> float:
    return REGISTRY.get_sample_value("zona_payment_submit_to_applied_seconds_count") or 0.0


def test_latency_is_recorded_at_commit_only(database_url: str) -> None:
    from datetime import datetime, timedelta, timezone

    now = datetime.now(timezone.utc)
    before = applied_count()
    with pytest.raises(RuntimeError), session_scope() as session:
        observe_applied(session, now - timedelta(seconds=3), now)
        raise RuntimeError("the apply failed: rolled back")
    assert applied_count() == before
    with session_scope() as session:
        observe_applied(session, now - timedelta(seconds=3), now)
        assert applied_count() == before  # not before the commit
    assert applied_count() == before + 1


def test_the_folder_is_emptied_at_start_and_gunicorn_marks_dead_workers(tmp_path: Path) -> None:
    folder = tmp_path / "metrics"
    folder.mkdir()
    (folder / "counter_4242.db").write_bytes(b"left by a previous run")
    assert prepare_multiproc_dir(folder) == str(folder)
    assert list(folder.iterdir()) == []

    sup = Supervisor({}, tmp_path / "logs")
    env = {"ZONA_WEB_PORT": "8000", "ZONA_WORKER_CONCURRENCY": "1", "ZONA_FLOWER_PORT": "5555",
           "ZONA_SMTP_PORT": "8025", "ZONA_SMS_PORT": "8026", "ZONA_PSE_PORT": "8100",
           "ZONA_PSE_WORKER_CONCURRENCY": "1"}
    build_children(sup, env, tmp_path, web_workers=1)
    web = next(c for c in sup.children if c.name == "web")
    assert "python:zona_privada.gunicorn_conf" in web.argv
    from zona_privada import gunicorn_conf

    assert callable(gunicorn_conf.child_exit)
