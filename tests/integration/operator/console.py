"""Helpers for the console tests (a module, not a conftest, so tests can import it):
operators made the way `zona operator add` makes them and enrolled through the same
functions the enrolment page calls, TOTP codes computed with pyotp, a client that reads
the console's forms, and a member's session minted by the members' own session code."""
from __future__ import annotations

import html
import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import pyotp
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from db import operators as ops
from db.engine import session_scope

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Op:
    id: int
    username: str
    key: str
    secret: str
    role: str

    def code(self, offset_steps: int = 0) -> str:
        totp = pyotp.TOTP(self.secret)
        return totp.at(datetime.now(timezone.utc) + timedelta(seconds=30 * offset_steps))


def away_from_step_edge() -> None:
    """Codes are computed here and checked there: not within a second of a 30 s edge."""
    if time.time() % 30 > 28.5:
        time.sleep(30 - time.time() % 30 + 0.2)


def make_operator(username: str, role: str) -> Op:
    """Created, then enrolled with the code of the PREVIOUS step: the next two logins
    can use the current and the next step's codes without meeting a used one."""
    away_from_step_edge()
    with session_scope() as db:
        operator_id, key = ops.create_operator(db, username, role)
    with session_scope() as db:
        secret = ops.draw_totp_secret(db, operator_id)
    previous = pyotp.TOTP(secret).at(datetime.now(timezone.utc) - timedelta(seconds=30))
    with session_scope() as db:
        assert ops.finish_enrolment(db, ops.Actor(operator_id, "127.0.0.1"), previous) is ops.LoginResult.SUCCEEDED
    return Op(operator_id, username, key, secret, role)


def csrf_of(page: str) -> str:
    match = _CSRF.search(page)
    assert match, "no csrf_token in page"
    return html.unescape(match.group(1))


class Console:
    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        self.csrf = ""

    def get(self, path: str, **kw: Any):  # noqa: ANN201
        response = self.client.get(path, **kw)
        page = response.get_data(as_text=True)
        match = _CSRF.search(page)
        if match:
            self.csrf = html.unescape(match.group(1))
        return response

    def post(self, path: str, data: dict[str, str] | None = None, *, csrf: str | None = None):  # noqa: ANN201
        form = dict(data or {})
        form.setdefault("csrf_token", self.csrf if csrf is None else csrf)
        return self.client.post(path, data=form)

    def login(self, op: Op, code: str | None = None, key: str | None = None):  # noqa: ANN201
        self.get("/operador/ingresar")
        return self.post("/operador/ingresar", {"usuario": op.username, "clave": key or op.key,
                                                 "codigo": op.code() if code is None else code})

    def logged_in(self, op: Op, offset_steps: int = 0) -> "Console":
        away_from_step_edge()
        response = self.login(op, op.code(offset_steps))
        assert response.status_code == 303 and response.headers["Location"].endswith("/operador/"), \
            response.get_data(as_text=True)[:800]
        self.get("/operador/")
        return self

    def cookie(self) -> str | None:
        cookie = self.client.get_cookie("zp_operador", path="/operador")
        return cookie.value if cookie else None


def console(app: Flask) -> Console:
    return Console(app.test_client())


def member_session_cookie(app: Flask, member_id: int) -> str:
    """A logged-in member's session, written by the members' session interface itself."""
    from flask import session

    from webapp.sessions import COOKIE_NAME, MEMBER_ID

    with app.test_request_context("/zona/"):
        session[MEMBER_ID] = member_id
        session.rotate()  # type: ignore[attr-defined]
        response = app.response_class()
        app.session_interface.save_session(app, session, response)  # type: ignore[arg-type]
    cookie = response.headers.get("Set-Cookie", "")
    match = re.search(rf"{COOKIE_NAME}=([^;]+)", cookie)
    assert match, cookie
    return match.group(1)


def counts() -> dict[str, Any]:
    """What a console form could change."""
    with session_scope() as db:
        return {
            "actions": db.execute(text("SELECT count(*) FROM operator_actions")).scalar_one(),
            "requests": db.execute(text("SELECT id, state, decided_by FROM operator_requests ORDER BY id")).all(),
            "reviews": db.execute(text("SELECT id, state, resolved_at FROM review_items ORDER BY id")).all(),
            "intents": db.execute(text("SELECT id, state, receipt_number FROM payment_intents ORDER BY id")).all(),
            "entries": db.execute(text("SELECT count(*) FROM journal_entries")).scalar_one(),
            "operators": db.execute(text(
                "SELECT id, failed_attempts, locked_until, totp_last_step FROM operators ORDER BY id")).all(),
        }


def actions_of(intent_id: int) -> list[tuple[str, str, str | None, str | None]]:
    with session_scope() as db:
        return [tuple(r) for r in db.execute(text(
            "SELECT o.username, x.kind, x.reason, x.ip FROM operator_actions x JOIN operators o ON o.id = x.operator_id"
            " WHERE x.payment_intent_id = :id ORDER BY x.id"), {"id": intent_id}).all()]
