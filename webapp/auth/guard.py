"""Who is logged in, and the decorator every page of the zone uses.

A member is "in" once every pending step after login (habeas-data notice, forced key
change, security image and phrase) is done; until then only those steps are reachable."""
from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from urllib.parse import urlsplit

from flask import redirect, request, session, url_for

from webapp.sessions import MEMBER_ID

PENDING = "pending"
NEXT_URL = "next_url"  # where a login sends the member when the session had ended on the way
NEXT_MAX_CHARS = 500
STAGE_ENDPOINTS = {
    "consent": "auth.consent",
    "change": "auth.change_password",
    "security": "auth.security_choice",
}
F = TypeVar("F", bound=Callable[..., Any])


def logged_member_id() -> int | None:
    """The member of this session, whether or not the steps after login are done."""
    value = session.get(MEMBER_ID)
    return int(value) if value is not None else None


def current_member_id() -> int | None:
    """The member fully inside the zone, or None."""
    if session.get(PENDING):
        return None
    return logged_member_id()


def safe_next(value: object) -> str | None:
    """A `next` worth following: a path inside the zone on this site, nothing else (no
    scheme, no host, no `//host`, no backslash or control character a browser might
    read as another origin). Anything else is dropped, never an error."""
    if not isinstance(value, str) or not value or len(value) > NEXT_MAX_CHARS:
        return None
    if not value.startswith("/zona/") or "\\" in value or any(ord(c) < 0x21 or ord(c) == 0x7F for c in value):
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or parts.fragment:
        return None
    return value


def next_stage_url() -> str:
    pending = session.get(PENDING) or []
    if pending:
        return url_for(STAGE_ENDPOINTS[pending[0]])
    # Every step done: back to the page the member was sent away from, once.
    return safe_next(session.pop(NEXT_URL, None)) or url_for("zone.home")


def _wanted_here() -> str | None:
    """This page, when a login should bring the member back to it: a GET of a page (not
    a poll's JSON, not a form's POST, which cannot be replayed)."""
    if request.method != "GET" or request.path.endswith(".json"):
        return None
    query = request.query_string.decode("latin-1")
    return safe_next(f"{request.path}?{query}" if query else request.path)


def login_redirect():  # noqa: ANN201
    reason = getattr(session, "ended_reason", None)
    args = {"sesion": reason} if reason else {}
    wanted = _wanted_here()
    if wanted:
        args["next"] = wanted
    return redirect(url_for("auth.login", **args))


def member_required(view: F) -> F:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any):  # noqa: ANN202
        if logged_member_id() is None:
            return login_redirect()
        if session.get(PENDING):
            return redirect(next_stage_url())
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def stage_required(stage: str) -> Callable[[F], F]:
    """Only reachable while `stage` is the member's next pending step."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any):  # noqa: ANN202
            if logged_member_id() is None:
                return login_redirect()
            pending = session.get(PENDING) or []
            if not pending or pending[0] != stage:
                return redirect(next_stage_url())
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator


def finish_stage(stage: str) -> None:
    pending = list(session.get(PENDING) or [])
    if pending and pending[0] == stage:
        pending.pop(0)
    session[PENDING] = pending
