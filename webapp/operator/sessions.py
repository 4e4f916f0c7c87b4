"""The console's own sessions, apart from members' (webapp.sessions).

Own cookie (`zp_operador`, path `/operador`: the browser never sends it to the member's
zone), own Redis keys (`zp:op:` in the sessions database: a member's session id means
nothing here, nor an operator's there), own CSRF token, drawn per session. Idle and
absolute limits are the settings' (`session_idle_timeout_s`, `session_absolute_timeout_s`)
and are checked here, server-side, on every request; Redis forgets the data a little
after the idle limit anyway."""
from __future__ import annotations

import hmac
import json
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import redis
from flask import Flask, Response

from zona_privada.settings import Settings

COOKIE_NAME = "zp_operador"
COOKIE_PATH = "/operador"
_KEY = "zp:op:"
_SID = re.compile(r"^[A-Za-z0-9_-]{43}$")
STAGE_ENROL = "enrol"  # key accepted, second factor to inscribe
STAGE_IN = "in"        # key and code accepted


@dataclass
class OperatorSession:
    sid: str | None = None
    operator_id: int | None = None
    stage: str | None = None
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    created: float = field(default_factory=time.time)
    seen: float = field(default_factory=time.time)
    ended_reason: str | None = None  # why the presented session was refused ("idle", "absolute", "gone")
    rotate: bool = False
    destroy: bool = False
    dirty: bool = False

    @property
    def logged_in(self) -> bool:
        return self.operator_id is not None and self.stage == STAGE_IN

    def csrf_ok(self, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf.encode(), (token or "").encode())

    def start(self, operator_id: int, stage: str) -> None:
        """Login: a new id and a new CSRF token, so nothing planted before survives."""
        self.operator_id, self.stage = operator_id, stage
        self.csrf = secrets.token_urlsafe(32)
        self.created = time.time()
        self.rotate = True
        self.dirty = True

    def end(self) -> None:
        self.destroy = True


class OperatorSessionStore:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client = redis.Redis.from_url(settings.sessions_redis_url, socket_timeout=3, socket_connect_timeout=3)

    def open(self, sid: str | None) -> OperatorSession:
        if not sid:
            return OperatorSession()
        if not _SID.match(sid):
            return OperatorSession(ended_reason="gone")
        raw = self.client.get(_KEY + sid)
        if raw is None:
            return OperatorSession(ended_reason="gone")
        try:
            data = json.loads(raw)
            session = OperatorSession(sid=sid, operator_id=data.get("operator_id"), stage=data.get("stage"),
                                      csrf=str(data["csrf"]), created=float(data["created"]),
                                      seen=float(data["seen"]))
        except (ValueError, KeyError, TypeError):
            self.client.delete(_KEY + sid)
            return OperatorSession(ended_reason="gone")
        now = time.time()
        if now - session.seen > self.settings.session_idle_timeout_s:
            self.client.delete(_KEY + sid)
            return OperatorSession(ended_reason="idle")
        if now - session.created > self.settings.session_absolute_timeout_s:
            self.client.delete(_KEY + sid)
            return OperatorSession(ended_reason="absolute")
        return session

    def save(self, session: OperatorSession, response: Response, *, secure: bool) -> None:
        if session.destroy:
            if session.sid:
                self.client.delete(_KEY + session.sid)
            response.delete_cookie(COOKIE_NAME, path=COOKIE_PATH, httponly=True, secure=secure, samesite="Strict")
            return
        if session.sid is None and not session.dirty:
            if session.ended_reason:
                response.delete_cookie(COOKIE_NAME, path=COOKIE_PATH, httponly=True, secure=secure,
                                       samesite="Strict")
            return
        old_sid = session.sid
        if session.sid is None or session.rotate:
            session.sid = secrets.token_urlsafe(32)
        session.seen = time.time()
        data = {"operator_id": session.operator_id, "stage": session.stage, "csrf": session.csrf,
                "created": session.created, "seen": session.seen}
        left_s = self.settings.session_absolute_timeout_s - (session.seen - session.created)
        ttl_s = max(1, int(min(self.settings.session_idle_timeout_s, left_s)) + 5)
        with self.client.pipeline(transaction=True) as pipe:
            pipe.set(_KEY + session.sid, json.dumps(data), ex=ttl_s)
            if old_sid and old_sid != session.sid:
                pipe.delete(_KEY + old_sid)
            pipe.execute()
        if session.sid != old_sid:
            response.set_cookie(COOKIE_NAME, session.sid, path=COOKIE_PATH, httponly=True, secure=secure,
                                samesite="Strict")

    def forget_sid(self, sid: str) -> None:
        self.client.delete(_KEY + sid)

    def raw(self, sid: str) -> dict[str, Any] | None:
        value = self.client.get(_KEY + sid)
        return json.loads(value) if value else None


def init_app(app: Flask) -> None:
    app.extensions["operator_sessions"] = OperatorSessionStore(app.config["ZONA_SETTINGS"])
