"""Fixtures for the login tests: the demo members on a clean database, the app built
from settings given as environment (so timeouts can be seconds), real Redis databases
flushed per test, a real SMTP sink and the development SMS gateway on free ports, and a
`Browserish` client that speaks to the pages the way a browser does."""
from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from tests.support.ports import free_port
from tests.integration.auth import auth_pages

DOC_MEMBER = "1077227777"
DOC_NEW_MEMBER = "52345678"


_SEED_CACHE: dict[str, Any] = {}


def _seed_from_scratch() -> None:
    from sqlalchemy import text

    from db.engine import get_engine
    from db.models import Base
    from db.seed import seed_demo_members

    names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with get_engine().begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    creds = seed_demo_members(None)
    _SEED_CACHE["creds"] = {c["documento"]: c["clave"] for c in creds}
    _SEED_CACHE["state"] = _auth_state()


def _auth_state() -> dict[str, Any]:
    from sqlalchemy import select

    from db.engine import session_scope
    from db.models import Credential, Member

    with session_scope() as db:
        creds = db.execute(select(Credential)).scalars().all()
        members = db.execute(select(Member)).scalars().all()
        return {
            "credentials": {c.member_id: {col.key: getattr(c, col.key) for col in Credential.__table__.columns}
                            for c in creds},
            "members": {m.id: (m.data_consent_at, m.data_consent_version) for m in members},
        }


@pytest.fixture
def demo_creds(database_url: str) -> dict[str, str]:
    """The demo members, seeded once per session; each test gets back the seeded state of
    everything the login touches (credentials, consent, audit, outbox). Seeds again when
    another test module has emptied the tables meanwhile."""
    from sqlalchemy import text, update

    from db.engine import session_scope
    from db.models import Credential, Member

    current = _auth_state() if "state" in _SEED_CACHE else None
    if current is None or set(current["members"]) != set(_SEED_CACHE["state"]["members"]):
        _seed_from_scratch()
    else:
        with session_scope() as db:
            db.execute(text("TRUNCATE audit_events, notification_outbox RESTART IDENTITY"))
            for member_id, values in _SEED_CACHE["state"]["credentials"].items():
                db.execute(update(Credential).where(Credential.member_id == member_id).values(**values))
            for member_id, (at, version) in _SEED_CACHE["state"]["members"].items():
                db.execute(update(Member).where(Member.id == member_id)
                           .values(data_consent_at=at, data_consent_version=version))
    return dict(_SEED_CACHE["creds"])


@pytest.fixture(scope="session")
def _sink_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The real SMTP sink (its own process, as `zona up` runs it) and the development SMS
    gateway (in a thread), on free ports."""
    import socket
    import sys

    from integrations.sms_gateway_dev import serve
    from tests.processes import start, wait_for

    root = tmp_path_factory.mktemp("sinks")
    mail_dir, sms_dir = root / "mail", root / "sms"
    mail_dir.mkdir()
    smtp_port, sms_port = free_port(), free_port()
    smtp = start("smtp", [sys.executable, "-m", "zona_privada.smtp_sink", "--port", str(smtp_port),
                          "--folder", str(mail_dir)], dict(os.environ), root)

    def smtp_listening() -> bool:
        try:
            socket.create_connection(("127.0.0.1", smtp_port), timeout=0.5).close()
            return True
        except OSError:
            return False

    server = serve("127.0.0.1", sms_port, sms_dir)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        assert wait_for(smtp_listening, 20), smtp.log()
        yield {"mail_dir": mail_dir, "sms_dir": sms_dir, "smtp_port": smtp_port,
               "sms_url": f"http://127.0.0.1:{sms_port}"}
    finally:
        server.shutdown()
        server.server_close()
        smtp.stop()


@pytest.fixture
def sinks(_sink_servers: dict[str, Any]) -> dict[str, Any]:
    """The sinks, emptied for this test."""
    for folder in (_sink_servers["mail_dir"], _sink_servers["sms_dir"]):
        for path in folder.glob("*"):
            path.unlink()
    return _sink_servers


def _flush_redis() -> None:
    from zona_privada.settings import get_settings

    settings = get_settings()
    for url in (settings.sessions_redis_url, settings.throttle_redis_url, settings.broker_redis_url):
        client = redis.Redis.from_url(url)
        client.flushdb()
        client.close()


@pytest.fixture
def make_app(demo_creds: dict[str, str], sinks: dict[str, Any], monkeypatch: pytest.MonkeyPatch
             ) -> Iterator[Callable[..., Flask]]:
    """Build the app with settings from the environment plus `env` overrides. Messages
    the web enqueues run at once in this process (`apply`), through the real task code,
    real SMTP and the real HTTP gateway; only the broker hop is skipped (e2e covers it)."""
    from zona_privada.settings import reset_settings_cache

    def factory(**env: Any) -> Flask:
        monkeypatch.setenv("ZONA_SMTP_PORT", str(sinks["smtp_port"]))
        monkeypatch.setenv("ZONA_SMS_GATEWAY_URL", sinks["sms_url"])
        for name, value in env.items():
            monkeypatch.setenv(name, str(value))
        reset_settings_cache()
        _flush_redis()
        import workers.notification_tasks as tasks

        def run_now(message_id: int, *, code_ref: str | None = None, audit_member_id: int | None = None) -> None:
            tasks.send_outbox_message.apply(args=[message_id],
                                            kwargs={"code_ref": code_ref, "audit_member_id": audit_member_id})

        def issue_now(document_type: str, document_number: str, channel: str) -> None:
            tasks.issue_temp_key.apply(args=[document_type, document_number, channel])

        def device_code_now(document_type: str, document_number: str, channel: str, code_ref: str) -> None:
            tasks.send_device_code.apply(args=[document_type, document_number, channel, code_ref])

        monkeypatch.setattr(tasks, "enqueue_send", run_now)
        monkeypatch.setattr(tasks, "enqueue_device_code", device_code_now)
        monkeypatch.setattr(tasks, "enqueue_temp_key", issue_now)
        from webapp import create_app

        return create_app()

    yield factory
    reset_settings_cache()


class Browserish:
    """A test client that posts forms the way a browser encodes them."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        self.last_body = ""

    def get(self, path: str, **kw: Any):  # noqa: ANN201
        return self.client.get(path, **kw)

    def post_form(self, path: str, pairs: list[tuple[str, str]], **kw: Any):  # noqa: ANN201
        self.last_body = auth_pages.browser_body(pairs)
        return self.client.post(path, data=self.last_body, content_type="application/x-www-form-urlencoded", **kw)

    def csrf(self, path: str = "/ingresar") -> str:
        return auth_pages.field(self.get(path).get_data(as_text=True), "csrf_token")

    def step1(self, number: str, doc_type: str = "CC") -> str:
        """Posts the document; returns the step-2 page."""
        response = self.post_form("/ingresar", [("csrf_token", self.csrf()), ("tipo", doc_type), ("documento", number)])
        assert response.status_code == 303, response.get_data(as_text=True)[:500]
        page = self.get("/ingresar/clave")
        assert page.status_code == 200
        return page.get_data(as_text=True)

    def type_key(self, page: str, secret: str):  # noqa: ANN201
        return self.post_form("/ingresar/clave", auth_pages.typed(page, k=secret))

    def login(self, number: str, secret: str):  # noqa: ANN201
        return self.type_key(self.step1(number), secret)

    def trust_device(self, document: str, doc_type: str = "CC") -> None:
        """Give this browser the signed cookie of a device the member logged in from
        before (minted as the app mints it), so step 2 shows the image and phrase."""
        from sqlalchemy import select

        from db.engine import session_scope
        from db.models import Member
        from webapp.auth import devices

        with session_scope() as db:
            member_id = db.execute(select(Member.id).where(
                Member.document_type == doc_type, Member.document_number == document)).scalar_one()
        with self.client.application.app_context():
            self.client.set_cookie(devices.COOKIE_NAME, devices.cookie_value([member_id]))

    def device_cookie(self) -> str | None:
        cookie = self.client.get_cookie("zp_dispositivo")
        return cookie.value if cookie else None

    def session_cookie(self) -> str | None:
        cookie = self.client.get_cookie("zp_sesion")
        return cookie.value if cookie else None


@pytest.fixture
def browserish() -> Callable[[Flask], Browserish]:
    return lambda app: Browserish(app.test_client())
