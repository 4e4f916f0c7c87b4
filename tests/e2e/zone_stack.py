"""The whole zone on free ports for browser tests: demo data from scratch, clean Redis
databases, the SMTP sink, the development SMS gateway, a Celery worker and gunicorn."""
from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis
from sqlalchemy import text

from db.engine import get_engine
from db.models import Base
from tests.support import ROOT
from tests.support.ports import free_port
from tests.processes import start, start_web, start_worker, wait_http


def reset_demo_state() -> dict[str, str]:
    """Empty tables, the demo members again, empty session/throttle/broker databases;
    returns {document: key} of the demo members."""
    from db.seed import seed_demo_members
    from zona_privada.settings import get_settings

    names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with get_engine().begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    creds = {c["documento"]: c["clave"] for c in seed_demo_members(None)}
    settings = get_settings()
    for url in (settings.sessions_redis_url, settings.throttle_redis_url, settings.broker_redis_url):
        client = redis.Redis.from_url(url)
        client.flushdb()
        client.close()
    return creds


@contextmanager
def zone_stack(database_url: str, state_dir: Path, logs: Path, *, worker_concurrency: int = 2,
               pse: bool = False) -> Iterator[dict[str, Any]]:
    """`pse=True` also starts the PSE sandbox (its bank page on 127.0.0.1, where the
    browser reaches it), points the worker's PSE client at it and caches its bank list
    as the beat job would."""
    creds = reset_demo_state()
    mail_dir, sms_dir = logs / "mail", logs / "sms"
    smtp_port, sms_port, web_port = free_port(), free_port(), free_port()
    env = dict(os.environ, DATABASE_URL=database_url, ZONA_STATE_DIR=str(state_dir), PYTHONPATH=str(ROOT),
               ZONA_SMTP_PORT=str(smtp_port), ZONA_SMS_GATEWAY_URL=f"http://127.0.0.1:{sms_port}")
    sandbox = _start_sandbox(logs, env) if pse else None
    procs = [
        start("smtp", [sys.executable, "-m", "zona_privada.smtp_sink", "--port", str(smtp_port), "--folder",
                       str(mail_dir)], env, logs),
        start("sms", [sys.executable, "-m", "integrations.sms_gateway_dev", "--port", str(sms_port), "--folder",
                      str(sms_dir)], env, logs),
        start_worker(env, logs, concurrency=worker_concurrency),
        start_web(env, logs, web_port, workers=2),
    ]
    try:
        base = f"http://127.0.0.1:{web_port}"
        assert wait_http(f"{base}/ingresar", 30) == 200, procs[-1].log()
        assert wait_http(f"http://127.0.0.1:{sms_port}/healthz", 15) == 200, procs[1].log()
        yield {"base": base, "mail_dir": mail_dir, "sms_dir": sms_dir, "procs": procs, "env": env, "logs": logs,
               "creds": creds, "pse": sandbox}
    finally:
        for proc in reversed(procs):
            proc.stop()
        if sandbox is not None:
            sandbox.stop()


def _start_sandbox(logs: Path, env: dict[str, str]) -> Any:
    from tests.support.pse import CLIENT_ENV, Sandbox
    from workers import pse_tasks

    sandbox = Sandbox(logs / "pse", logs / "pse-state")
    sandbox.start()
    env.update(CLIENT_ENV, ZONA_PSE_URL=sandbox.soap_url)
    assert pse_tasks.refresh_bank_list(sandbox.provider(), sandbox.settings(), force=True), sandbox.proc.log()
    return sandbox
