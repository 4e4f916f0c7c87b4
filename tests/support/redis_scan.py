"""Everything a Redis database holds, as text, for tests that check a secret is in none
of it: every key, every value of every type, and inside Celery's messages the base64
body decoded (a key in clear inside base64 would not show literally)."""
from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable

import redis


def _values(client: redis.Redis, key: bytes) -> list[bytes]:
    kind = client.type(key).decode()
    if kind == "string":
        return [client.get(key) or b""]
    if kind == "list":
        return list(client.lrange(key, 0, -1))
    if kind == "hash":
        return [b for pair in client.hgetall(key).items() for b in pair]
    if kind == "set":
        return list(client.smembers(key))
    if kind == "zset":
        return [m for m, _ in client.zrange(key, 0, -1, withscores=True)]
    if kind == "stream":
        return [repr(client.xrange(key)).encode()]
    return []


def _decoded(raw: bytes) -> Iterable[str]:
    text = raw.decode("utf-8", "replace")
    yield text
    try:
        envelope = json.loads(text)
    except ValueError:
        return
    body = envelope.get("body") if isinstance(envelope, dict) else None
    if isinstance(body, str):
        try:
            yield base64.b64decode(body).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            pass


def everything(url: str) -> list[str]:
    client = redis.Redis.from_url(url)
    try:
        out: list[str] = []
        for key in client.scan_iter(count=1000):
            out.append(key.decode("utf-8", "replace"))
            for value in _values(client, key):
                out.extend(_decoded(value))
        return out
    finally:
        client.close()


def celery_messages(url: str, queue: str = "celery") -> list[tuple[str, list, dict]]:
    """(task name, args, kwargs) of the messages waiting in `queue`."""
    client = redis.Redis.from_url(url)
    try:
        found = []
        for raw in client.lrange(queue, 0, -1):
            envelope = json.loads(raw)
            args, kwargs, _embed = json.loads(base64.b64decode(envelope["body"]))
            found.append((envelope["headers"]["task"], args, kwargs))
        return found
    finally:
        client.close()


def queued_tasks(url: str) -> list[tuple[str, str]]:
    """(task name, argsrepr) of the messages waiting in every queue the workers consume:
    the default queue and the PSE queue, where PSE I/O steps are routed."""
    from workers.celery_app import app as celery
    from zona_privada.settings import get_settings

    queues = (celery.conf.task_default_queue or "celery", get_settings().pse_queue)
    client = redis.Redis.from_url(url)
    try:
        return [(m["headers"]["task"], m["headers"]["argsrepr"])
                for queue in queues for m in (json.loads(raw) for raw in client.lrange(queue, 0, -1))]
    finally:
        client.close()
