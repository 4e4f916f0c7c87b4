"""GET /healthz: database, Redis and workers, 200 only when all three answer."""
from __future__ import annotations

import time
from typing import Any

import redis
from flask import Blueprint, jsonify
from sqlalchemy import text

from db.engine import get_engine
from zona_privada.settings import get_settings

bp = Blueprint("health", __name__)


def _check_database() -> dict[str, Any]:
    started = time.perf_counter()
    with get_engine().connect() as conn:
        conn.execute(text("SELECT 1"))
    return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1)}


def _check_redis() -> dict[str, Any]:
    client = redis.Redis.from_url(get_settings().broker_redis_url, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    finally:
        client.close()
    return {"ok": True}


def _check_workers() -> dict[str, Any]:
    from workers.celery_app import app as celery

    replies = celery.control.ping(timeout=1.0) or []
    names = sorted(name for reply in replies for name in reply)
    return {"ok": bool(names), "workers": names}


@bp.get("/healthz")
def healthz():  # noqa: ANN201
    checks: dict[str, dict[str, Any]] = {}
    for name, check in (("database", _check_database), ("redis", _check_redis), ("workers", _check_workers)):
        try:
            checks[name] = check()
        except Exception as exc:  # a health check reports every failure, it never raises
            checks[name] = {"ok": False, "error": type(exc).__name__, "detail": str(exc)[:200]}
    healthy = all(c["ok"] for c in checks.values())
    return jsonify(status="ok" if healthy else "degraded", checks=checks), (200 if healthy else 503)
