"""Devices a member has logged in from, as SiteKey does: a long-lived signed cookie.

After a login the browser gets (or keeps) `zp_dispositivo`, signed with the app's secret,
listing tags of the members who logged in on it (an HMAC of the member's id: the cookie
names nobody). Step 2 shows a member's real image and phrase only on such a device; on a
new one it first asks for a one-time code, and a stranger's document gets that same step.
A forged or expired cookie is simply a new device."""
from __future__ import annotations

import hashlib
import hmac

from flask import Request, Response, current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer

COOKIE_NAME = "zp_dispositivo"
MAX_MEMBERS = 5  # a shared family computer; older tags fall off
_SALT = "zp-dispositivo"


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def _tag(member_id: int) -> str:
    key = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(key, f"device|{member_id}".encode(), hashlib.sha256).hexdigest()[:24]


def _tags(request: Request) -> list[str]:
    raw = request.cookies.get(COOKIE_NAME)
    if not raw or len(raw) > 4096:
        return []
    max_age = current_app.config["ZONA_SETTINGS"].known_device_max_age_s
    try:
        value = _serializer().loads(raw, max_age=max_age)
    except BadSignature:
        return []
    return [t for t in value if isinstance(t, str)][:MAX_MEMBERS] if isinstance(value, list) else []


def knows(request: Request, member_id: int | None) -> bool:
    if member_id is None:
        return False
    tag = _tag(member_id)
    return any(hmac.compare_digest(t, tag) for t in _tags(request))


def cookie_value(member_ids: list[int], existing: list[str] | None = None) -> str:
    """The signed cookie for these members (newest last); tests mint one the same way."""
    tags = [t for t in (existing or []) if t not in {_tag(m) for m in member_ids}]
    tags += [_tag(m) for m in member_ids]
    return _serializer().dumps(tags[-MAX_MEMBERS:])


def remember(request: Request, response: Response, member_id: int) -> None:
    settings = current_app.config["ZONA_SETTINGS"]
    response.set_cookie(
        COOKIE_NAME, cookie_value([member_id], _tags(request)), max_age=settings.known_device_max_age_s,
        httponly=True, secure=not settings.is_development, samesite="Lax", path="/",
    )
