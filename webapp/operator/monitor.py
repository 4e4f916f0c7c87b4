"""Workers and queues for the console: Celery's ping and active tasks (short time-out:
the page must answer even with every worker down) and each queue's depth from Redis."""
from __future__ import annotations

import time
from typing import Any

import redis

from zona_privada.settings import Settings

INSPECT_TIMEOUT_S = 1.0


def snapshot(settings: Settings) -> dict[str, Any]:
    from workers.celery_app import app as celery

    started = time.perf_counter()
    workers: list[dict[str, Any]] = []
    error = None
    try:
        inspect = celery.control.inspect(timeout=INSPECT_TIMEOUT_S)
        pings = inspect.ping() or {}
        active = inspect.active() or {} if pings else {}
        for name in sorted(pings):
            tasks = active.get(name) or []
            workers.append({"name": name, "ok": pings[name].get("ok") == "pong", "active": [
                {"name": t.get("name"), "id": t.get("id"), "args": t.get("args"),
                 "started": t.get("time_start")} for t in tasks]})
    except Exception as exc:  # noqa: BLE001 - the page shows what failed instead of failing
        error = f"No se pudo consultar a los trabajadores: {type(exc).__name__}"
    queues: list[dict[str, Any]] = []
    client = redis.Redis.from_url(settings.broker_redis_url, socket_timeout=2, socket_connect_timeout=2)
    try:
        names = [celery.conf.task_default_queue or "celery"]
        for name in names:
            queues.append({"name": name, "depth": int(client.llen(name))})
    except redis.RedisError as exc:
        error = (error + "; " if error else "") + f"No se pudo leer Redis: {type(exc).__name__}"
    finally:
        client.close()
    return {"workers": workers, "queues": queues, "error": error,
            "took_ms": round((time.perf_counter() - started) * 1000)}
