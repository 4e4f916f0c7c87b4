"""Server-side sessions: rotation at login, idle and absolute limits, one session per
member, logout, cookie flags and security headers."""
from __future__ import annotations

import time

import pytest
import redis

from tests.integration.auth import auth_pages
from tests.support.payments import DEMO_DOCUMENT as DOC_MEMBER
from tests.processes import wait_for

pytestmark = pytest.mark.integration


def sessions_client() -> redis.Redis:
    from zona_privada.settings import get_settings

    return redis.Redis.from_url(get_settings().sessions_redis_url)


def test_session_id_rotates_at_login_and_lives_in_redis(make_app, browserish, demo_creds) -> None:  # noqa: ANN001
    client = browserish(make_app())
    client.step1(DOC_MEMBER)
    before = client.session_cookie()
    assert before and sessions_client().exists(f"zp:s:{before}")
    client.type_key(client.get("/ingresar/clave").get_data(as_text=True), demo_creds[DOC_MEMBER])
    after = client.session_cookie()
    assert after and after != before
    assert not sessions_client().exists(f"zp:s:{before}") and sessions_client().exists(f"zp:s:{after}")
    # The cookie holds only the id: nothing about the member is in it.
    assert len(after) == 43


def test_idle_session_is_refused(make_app, browserish, demo_creds) -> None:  # noqa: ANN001
    idle_s = 2
    client = browserish(make_app(ZONA_SESSION_IDLE_TIMEOUT_S=idle_s, ZONA_SESSION_IDLE_WARNING_S=1))
    client.login(DOC_MEMBER, demo_creds[DOC_MEMBER])
    assert client.get("/zona/").status_code == 200
    status = client.get("/sesion/estado").json
    assert status["activa"] and 0 < status["segundos_restantes"] <= idle_s and status["aviso_s"] == 1
    last_use = time.monotonic()
    # Asking for the status is not activity: the session still runs out.
    assert wait_for(lambda: client.get("/sesion/estado").json["segundos_restantes"] == 0 or
                    time.monotonic() - last_use > idle_s + 0.3, idle_s + 3, 0.25)
    assert wait_for(lambda: time.monotonic() - last_use > idle_s + 0.3, idle_s + 3)
    response = client.get("/zona/")
    # Back to where the member was after logging in again (a local path only).
    assert response.status_code == 302 and response.headers["Location"] == "/ingresar?sesion=idle&next=/zona/"
    assert "inactividad" in client.get(response.headers["Location"]).get_data(as_text=True)
    assert client.get("/zona/").status_code == 302  # still out


def test_renew_keeps_session_alive(make_app, browserish, demo_creds) -> None:  # noqa: ANN001
    idle_s = 2
    client = browserish(make_app(ZONA_SESSION_IDLE_TIMEOUT_S=idle_s))
    client.login(DOC_MEMBER, demo_creds[DOC_MEMBER])
    zone = client.get("/zona/").get_data(as_text=True)
    token = auth_pages.field(zone, "csrf_token")
    assert client.client.post("/sesion/renovar").status_code == 400  # no CSRF header
    started = time.monotonic()
    while time.monotonic() - started < idle_s * 2:
        assert client.client.post("/sesion/renovar", headers={"X-CSRFToken": token}).status_code == 200
        wait_for(lambda: False, idle_s / 3)
    assert client.get("/zona/").status_code == 200


def test_absolute_limit(make_app, browserish, demo_creds) -> None:  # noqa: ANN001
    absolute_s = 2
    client = browserish(make_app(ZONA_SESSION_ABSOLUTE_TIMEOUT_S=absolute_s))
    client.login(DOC_MEMBER, demo_creds[DOC_MEMBER])
    started = time.monotonic()
    response = client.get("/zona/")
    while response.status_code == 200 and time.monotonic() - started < absolute_s + 3:  # active all along
        wait_for(lambda: False, 0.3)
        response = client.get("/zona/")
    assert time.monotonic() - started >= absolute_s - 0.1
    assert response.status_code == 302 and "sesion=absolute" in response.headers["Location"]


def test_second_login_ends_the_first(make_app, browserish, demo_creds) -> None:  # noqa: ANN001
    app = make_app()
    first, second = browserish(app), browserish(app)
    first.login(DOC_MEMBER, demo_creds[DOC_MEMBER])
    assert first.get("/zona/").status_code == 200
    second.login(DOC_MEMBER, demo_creds[DOC_MEMBER])
    assert second.get("/zona/").status_code == 200
    response = first.get("/zona/")
    assert response.status_code == 302 and "sesion=replaced" in response.headers["Location"]
    assert second.get("/zona/").status_code == 200
    events = second.get("/zona/seguridad").get_data(as_text=True)
    assert "Sesión cerrada por un nuevo ingreso" in events


def test_logout_deletes_the_session(make_app, browserish, demo_creds) -> None:  # noqa: ANN001
    client = browserish(make_app())
    client.login(DOC_MEMBER, demo_creds[DOC_MEMBER])
    sid = client.session_cookie()
    zone = client.get("/zona/").get_data(as_text=True)
    response = client.post_form("/salir", [("csrf_token", auth_pages.field(zone, "csrf_token"))])
    assert response.status_code == 303 and "sesion=salida" in response.headers["Location"]
    assert not sessions_client().exists(f"zp:s:{sid}")
    assert client.get("/zona/").status_code == 302
    # A copy of the old cookie is worthless too.
    thief = browserish(client.client.application)
    thief.client.set_cookie("zp_sesion", sid)
    assert thief.get("/zona/").status_code == 302
    # Logging out without the CSRF token is refused.
    client.login(DOC_MEMBER, demo_creds[DOC_MEMBER])
    assert client.client.post("/salir").status_code == 400
    assert client.get("/zona/").status_code == 200


def test_cookie_flags_and_security_headers(make_app, browserish) -> None:  # noqa: ANN001
    client = browserish(make_app())
    response = client.get("/ingresar")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # development / test only
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
    assert "Strict-Transport-Security" not in response.headers
    assert "<script>" not in response.get_data(as_text=True)


def test_production_cookie_is_secure_and_hsts(make_app, browserish) -> None:  # noqa: ANN001
    app = make_app(ZONA_ENV="staging")
    response = browserish(app).get("/ingresar")
    assert "Secure" in response.headers["Set-Cookie"]
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_no_inline_scripts_in_any_template() -> None:
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[3] / "webapp" / "templates"
    for path in list((root / "auth").glob("*.html")) + list((root / "zone").glob("*.html")):
        text = path.read_text()
        for tag in re.findall(r"<script[^>]*>", text):
            assert "src=" in tag, (path, tag)
        assert not re.search(r"\son[a-z]+=", text), path


def test_one_redis_client_per_app_whatever_the_threads(make_app, monkeypatch: pytest.MonkeyPatch) -> None:
    """gunicorn's threads all arrive at once after a start: a client made lazily was made
    twice, and the loser's pool, once collected, disconnected a connection another thread
    was reading (a 500 at login). Clients are made with the app, once."""
    import threading

    from webapp.auth.views import _throttle

    made: list[str] = []
    real = redis.Redis.from_url.__func__  # type: ignore[attr-defined]

    def slow_from_url(cls, url, **kwargs):  # noqa: ANN001, ANN202
        made.append(url)
        time.sleep(0.05)  # widens any check-then-create window
        return real(cls, url, **kwargs)

    monkeypatch.setattr(redis.Redis, "from_url", classmethod(slow_from_url))
    app = make_app()
    at_creation = len(made)
    assert at_creation >= 2  # the session store's and the throttle's
    barrier = threading.Barrier(8)
    seen: list[tuple[int, int]] = []

    def first_request() -> None:
        barrier.wait()
        with app.app_context():
            seen.append((id(app.session_interface.client), id(_throttle().client)))

    threads = [threading.Thread(target=first_request) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(made) == at_creation
    assert len(seen) == 8 and len(set(seen)) == 1
