"""Who is logged in, and the decorator every page of the zone uses.

A member is "in" once every pending step after login (habeas-data notice, forced key
change, security image and phrase) is done; until then only those steps are reachable."""
from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import redirect, session, url_for

from webapp.sessions import MEMBER_ID

PENDING = "pending"
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


def next_stage_url() -> str:
    pending = session.get(PENDING) or []
    if pending:
        return url_for(STAGE_ENDPOINTS[pending[0]])
    return url_for("zone.home")


def login_redirect():  # noqa: ANN201
    reason = getattr(session, "ended_reason", None)
    return redirect(url_for("auth.login", sesion=reason) if reason else url_for("auth.login"))


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
