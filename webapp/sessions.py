"""Server-side sessions in Redis (the sessions database), as a Flask SessionInterface.

The cookie carries only a random id. The data lives in Redis with the time it was created
and last used: a session idle past `session_idle_timeout_s`, or older than
`session_absolute_timeout_s`, is refused and deleted. `rotate()` gives the session a new
id (called at login, so an id planted before login is worthless). A logged-in member has
exactly one live session: logging in again deletes the older one, and every request
checks that its session is still the member's current one. `destroy()` (logout) deletes
it server-side.

Sessions cannot overwrite each other: the data is a Redis hash with one field per session
key, and a request writes back only the fields it changed (a status poll that changed
nothing writes nothing; a wizard step writes only the wizard's field). The last-seen time
is a field of its own and the expiry is refreshed with EXPIRE, never by rewriting the data.
A request of a session deleted meanwhile (logout, a newer login) cannot bring it back:
the write happens only while the hash exists (a Lua script). Counters that limit
something do not live here at all: they are atomic Redis operations (see `webapp.limits`).
"""
from __future__ import annotations

import re
import secrets
import time
from typing import Any

import redis
from flask import Flask, Request, Response, g
from flask.json.tag import TaggedJSONSerializer
from flask.sessions import SessionInterface, SessionMixin
from werkzeug.datastructures import CallbackDict

from zona_privada.settings import Settings

COOKIE_NAME = "zp_sesion"
_SID = re.compile(r"^[A-Za-z0-9_-]{43}$")
_KEY = "zp:s:"
_MEMBER_KEY = "zp:m:"
CREATED = "_created"
SEEN = "_seen"
MEMBER_ID = "member_id"
_REPLACED_KEY = "zp:r:"  # tombstone of a session a newer login ended: its browser is told why

# Write the changed fields and refresh the expiry, only while the session still exists.
# KEYS[1] the hash; ARGV[1] ttl seconds, ARGV[2] how many fields to set, then field/value
# pairs, then the fields to delete.
_UPDATE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local n = tonumber(ARGV[2])
for i = 0, n - 1 do redis.call('HSET', KEYS[1], ARGV[3 + 2 * i], ARGV[4 + 2 * i]) end
for i = 3 + 2 * n, #ARGV do redis.call('HDEL', KEYS[1], ARGV[i]) end
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[1]))
return 1
"""


class ServerSession(CallbackDict, SessionMixin):
    def __init__(self, initial: dict[str, Any] | None = None, sid: str | None = None) -> None:
        def on_update(_self: ServerSession) -> None:
            _self.modified = True

        super().__init__(initial or {}, on_update)
        self.sid = sid
        self.new = sid is None
        # The serialized fields as they were read: save writes back only what differs.
        self.loaded: dict[str, str] = {}
        self.next_sid: str | None = None
        self.modified = False
        self.rotate_requested = False
        self.destroy_requested = False
        # Why the session the browser presented was refused: "idle", "absolute",
        # "replaced" or "gone"; the login page words it for the member.
        self.ended_reason: str | None = None

    def rotate(self) -> None:
        self.rotate_requested = True
        self.modified = True

    def stable_id(self) -> str:
        """The id this session has once this request is answered (a new or rotated
        session's id is drawn now), for data kept beside it in Redis."""
        if self.sid is None or self.rotate_requested:
            if self.next_sid is None:
                self.next_sid = _new_sid()
            return self.next_sid
        return self.sid

    def destroy(self) -> None:
        self.destroy_requested = True
        self.clear()


def _new_sid() -> str:
    return secrets.token_urlsafe(32)


class RedisSessionInterface(SessionInterface):
    serializer = TaggedJSONSerializer()

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # Made here, once per app, not on first use: gunicorn's threads all arrive at once,
        # and a client made twice lost the race's loser, whose pool, when collected,
        # disconnected a connection another thread was still reading (a 500 at login).
        # No connection is opened until the first command.
        self.client = redis.Redis.from_url(settings.sessions_redis_url, socket_timeout=3, socket_connect_timeout=3)
        self._update = self.client.register_script(_UPDATE)

    # ---------------------------------------------------------------- open

    def open_session(self, app: Flask, request: Request) -> ServerSession:
        sid = request.cookies.get(COOKIE_NAME)
        if not sid:
            return ServerSession()
        if not _SID.match(sid):
            return self._ended("gone")
        with self.client.pipeline(transaction=False) as pipe:
            pipe.hgetall(_KEY + sid)
            pipe.exists(_REPLACED_KEY + sid)
            raw, replaced = pipe.execute()
        if not raw:
            if replaced:
                self.client.delete(_REPLACED_KEY + sid)
                return self._ended("replaced")
            return self._ended("gone")
        try:
            loaded = {k.decode(): v.decode() for k, v in raw.items()}
            data = {k: self.serializer.loads(v) for k, v in loaded.items()}
        except ValueError:
            self.client.delete(_KEY + sid)
            return self._ended("gone")
        now = time.time()
        if now - float(data.get(SEEN, 0)) > self.settings.session_idle_timeout_s:
            return self._drop(sid, data, "idle")
        if now - float(data.get(CREATED, 0)) > self.settings.session_absolute_timeout_s:
            return self._drop(sid, data, "absolute")
        member_id = data.get(MEMBER_ID)
        if member_id is not None:
            current = self.client.get(_MEMBER_KEY + str(member_id))
            if current is None or current.decode() != sid:
                return self._drop(sid, data, "replaced")
        session = ServerSession(data, sid)
        session.loaded = loaded
        return session

    def _ended(self, reason: str) -> ServerSession:
        session = ServerSession()
        session.ended_reason = reason
        return session

    def _drop(self, sid: str, data: dict[str, Any], reason: str) -> ServerSession:
        self.client.delete(_KEY + sid)
        member_id = data.get(MEMBER_ID)
        if member_id is not None:
            self._forget_member_session(member_id, sid)
        return self._ended(reason)

    def _forget_member_session(self, member_id: int, sid: str) -> None:
        # Only if it still points at this session; a newer login's pointer stays.
        key = _MEMBER_KEY + str(member_id)
        with self.client.pipeline() as pipe:
            try:
                pipe.watch(key)
                if (pipe.get(key) or b"").decode() == sid:
                    pipe.multi()
                    pipe.delete(key)
                    pipe.execute()
            except redis.WatchError:
                pass

    # ---------------------------------------------------------------- save

    def save_session(self, app: Flask, session: ServerSession, response: Response) -> None:  # type: ignore[override]
        response.vary.add("Cookie")
        if session.destroy_requested:
            if session.sid:
                self.client.delete(_KEY + session.sid)
                member_id = session.get(MEMBER_ID) if session else None
                if member_id is not None:
                    self._forget_member_session(member_id, session.sid)
            self._clear_cookie(app, response)
            return
        if not session:
            if session.sid:  # emptied: nothing worth keeping
                self.client.delete(_KEY + session.sid)
                self._clear_cookie(app, response)
            elif session.ended_reason:
                self._clear_cookie(app, response)
            return

        now = time.time()
        old_sid = session.sid
        fresh = session.new or session.rotate_requested
        if fresh:
            session.sid = session.next_sid or _new_sid()
            session[CREATED] = now
        touch = not g.get("session_no_touch", False)
        if touch or SEEN not in session:
            session[SEEN] = now
        ttl_s = self._ttl_s(session, now)
        key = _KEY + session.sid
        current = {k: self.serializer.dumps(v) for k, v in session.items()}
        if fresh:
            with self.client.pipeline(transaction=True) as pipe:
                pipe.delete(key)
                pipe.hset(key, mapping=current)
                pipe.expire(key, ttl_s)
                if old_sid:
                    pipe.delete(_KEY + old_sid)
                pipe.execute()
        else:
            changed = {k: v for k, v in current.items() if session.loaded.get(k) != v}
            removed = [k for k in session.loaded if k not in current]
            if changed or removed or touch:
                args: list[str | int] = [ttl_s, len(changed)]
                for field, value in changed.items():
                    args += [field, value]
                self._update(keys=[key], args=args + removed)
        member_id = session.get(MEMBER_ID)
        if member_id is not None and session.rotate_requested:
            self._claim_member(int(member_id), session.sid)
        if session.sid != old_sid or session.new:
            self._set_cookie(app, response, session.sid)

    def member_has_session(self, member_id: int) -> bool:
        """Whether the member has a live session now (a new login is about to end it)."""
        current = self.client.get(_MEMBER_KEY + str(member_id))
        return current is not None and bool(self.client.exists(_KEY + current.decode()))

    def _claim_member(self, member_id: int, sid: str) -> None:
        """This session becomes the member's only one: the previous one is deleted."""
        previous = self.client.set(
            _MEMBER_KEY + str(member_id), sid, ex=self.settings.session_absolute_timeout_s + 60, get=True
        )
        if previous is not None and previous.decode() != sid:
            # The old session's data is gone; a tombstone lets its browser be told why.
            old = previous.decode()
            if self.client.delete(_KEY + old):
                self.client.set(_REPLACED_KEY + old, 1, ex=self.settings.session_idle_timeout_s)

    def _ttl_s(self, session: ServerSession, now: float) -> int:
        left_absolute = self.settings.session_absolute_timeout_s - (now - float(session.get(CREATED, now)))
        # Redis forgets it a little after the idle limit; open_session enforces the exact limit.
        return max(1, int(min(self.settings.session_idle_timeout_s, left_absolute)) + 5)

    def _cookie_kwargs(self, app: Flask) -> dict[str, Any]:
        return {
            "httponly": True,
            "secure": not self.settings.is_development,
            "samesite": "Lax",
            "path": "/",
        }

    def _set_cookie(self, app: Flask, response: Response, sid: str) -> None:
        response.set_cookie(COOKIE_NAME, sid, **self._cookie_kwargs(app))

    def _clear_cookie(self, app: Flask, response: Response) -> None:
        response.delete_cookie(COOKIE_NAME, **self._cookie_kwargs(app))


def seconds_left(session: ServerSession, settings: Settings, now: float | None = None) -> int:
    """Idle seconds left before the session is refused (for the warning dialog)."""
    now = time.time() if now is None else now
    idle_left = settings.session_idle_timeout_s - (now - float(session.get(SEEN, now)))
    absolute_left = settings.session_absolute_timeout_s - (now - float(session.get(CREATED, now)))
    return max(0, int(min(idle_left, absolute_left)))


def init_app(app: Flask) -> None:
    app.session_interface = RedisSessionInterface(app.config["ZONA_SETTINGS"])
