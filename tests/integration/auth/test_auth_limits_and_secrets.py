"""Login limits and secrets (issue 9, item 5): the client's IP behind a configured number
of proxies, steps 1 and 2 throttled per IP and per document, and no temporary key in
Redis (broker, sessions, throttle) at any point of "olvidé mi clave"."""
from __future__ import annotations

import re

import pytest

from tests.integration.auth import auth_pages
from tests.support import redis_scan
from tests.support.payments import DEMO_DOCUMENT as DOC_MEMBER, OTHER_DOCUMENT as DOC_NEW_MEMBER
from zona_privada.smtp_sink import read_messages as read_mail

pytestmark = pytest.mark.integration
PROXY = "10.0.0.9"


def _wrong_key(client, ip: str) -> int:  # noqa: ANN001
    """Step 1 and a wrong key, as a browser behind the proxy at `PROXY` with address `ip`."""
    headers = {"X-Forwarded-For": ip}
    env = {"REMOTE_ADDR": PROXY}
    token = auth_pages.field(client.get("/ingresar", environ_base=env).get_data(as_text=True), "csrf_token")
    assert client.post_form("/ingresar", [("csrf_token", token), ("tipo", "CC"), ("documento", DOC_MEMBER)],
                            headers=headers, environ_base=env).status_code == 303
    page = client.get("/ingresar/clave", headers=headers, environ_base=env).get_data(as_text=True)
    return client.post_form("/ingresar/clave", auth_pages.typed(page, k="Errada12"), headers=headers,
                            environ_base=env).status_code


def test_behind_a_configured_proxy_two_clients_have_two_counters(make_app, browserish, demo_creds) -> None:  # noqa: ANN001
    app = make_app(ZONA_TRUSTED_PROXIES="1", ZONA_LOGIN_IP_LIMIT="2", ZONA_LOCKOUT_THRESHOLD="50")
    a, b = browserish(app), browserish(app)
    assert [_wrong_key(a, "203.0.113.5") for _ in range(3)] == [401, 401, 429]
    # Another client behind the same proxy has its own counter: not blocked by the first.
    assert _wrong_key(b, "203.0.113.6") == 401


def test_without_trusted_proxies_x_forwarded_for_is_ignored(make_app, browserish, demo_creds) -> None:  # noqa: ANN001
    app = make_app(ZONA_TRUSTED_PROXIES="0", ZONA_LOGIN_IP_LIMIT="2", ZONA_LOCKOUT_THRESHOLD="50")
    a, b = browserish(app), browserish(app)
    assert [_wrong_key(a, "203.0.113.5") for _ in range(2)] == [401, 401]
    # A made-up header does not buy a fresh counter: the peer's address is what counts.
    assert _wrong_key(b, "203.0.113.77") == 429


def test_step_one_per_document_gives_429_with_retry_after(make_app, browserish) -> None:  # noqa: ANN001
    client = browserish(make_app(ZONA_LOGIN_STEP_DOCUMENT_LIMIT="3", ZONA_LOGIN_STEP_WINDOW_S="120"))
    statuses = []
    for _ in range(4):
        response = client.post_form("/ingresar", [("csrf_token", client.csrf()), ("tipo", "CC"), ("documento", "80000123")])
        statuses.append(response.status_code)
    assert statuses == [303, 303, 303, 429]
    assert 1 <= int(response.headers["Retry-After"]) <= 120
    assert "demasiadas consultas de ingreso" in response.get_data(as_text=True)


def test_steps_one_and_two_per_ip_stop_a_walk_through_documents(make_app, browserish) -> None:  # noqa: ANN001
    """The reproduction: 46 documents walked in 0.6 s from one IP. Each document once
    (step 1 and step 2 count one each), so only the per-IP limit can stop it."""
    client = browserish(make_app(ZONA_LOGIN_STEP_IP_LIMIT="20"))
    answered = 0
    for n in range(46):
        response = client.post_form("/ingresar", [("csrf_token", client.csrf()), ("tipo", "CC"), ("documento", f"8100{n:04d}")])
        if response.status_code != 303:
            assert response.status_code == 429 and response.headers.get("Retry-After")
            break
        page = client.get("/ingresar/clave")
        if page.status_code != 200:
            assert page.status_code == 429 and page.headers.get("Retry-After")
            break
        answered += 1
    assert answered == 10  # 20 hits: step 1 and step 2 of ten documents


def test_an_ip_blocked_for_wrong_keys_cannot_walk_step_one(make_app, browserish, demo_creds) -> None:  # noqa: ANN001
    app = make_app(ZONA_LOGIN_IP_LIMIT="2", ZONA_LOCKOUT_THRESHOLD="50")
    client = browserish(app)
    for _ in range(3):
        client.login(DOC_MEMBER, "Errada12")
    token = client.csrf()
    response = client.post_form("/ingresar", [("csrf_token", token), ("tipo", "CC"), ("documento", "80000999")])
    assert response.status_code == 429 and response.headers.get("Retry-After")


def _all_redis() -> list[str]:
    from zona_privada.settings import get_settings

    s = get_settings()
    return [text for url in (s.broker_redis_url, s.sessions_redis_url, s.throttle_redis_url)
            for text in redis_scan.everything(url)]


def test_no_temporary_key_in_redis_the_worker_draws_it(make_app, browserish, sinks, monkeypatch) -> None:  # noqa: ANN001
    """The task goes through the real broker; the test then runs what the broker holds as
    the worker would. The key appears in the e-mail and nowhere in Redis."""
    import workers.notification_tasks as tasks
    from zona_privada.settings import get_settings

    real_enqueue = tasks.enqueue_temp_key
    app = make_app()
    monkeypatch.setattr(tasks, "enqueue_temp_key", real_enqueue)
    broker = get_settings().broker_redis_url
    for document in (DOC_NEW_MEMBER, "80000555"):  # a member and a stranger, the same request
        client = browserish(app)
        client.step1(document)
        page = client.get("/ingresar/clave-temporal").get_data(as_text=True)
        response = client.post_form("/ingresar/clave-temporal",
                                    [("csrf_token", auth_pages.field(page, "csrf_token")), ("canal", "email")])
        assert response.status_code == 200
    messages = sorted((m for m in redis_scan.celery_messages(broker) if m[0].endswith(".issue_temp_key")),
                      key=lambda m: m[1][1] != DOC_NEW_MEMBER)  # Kombu pushes to the head: order by who
    # Only what to look up travels: no key, no hash, the same for member and stranger.
    assert [(args, kwargs) for _, args, kwargs in messages] == [
        (["CC", DOC_NEW_MEMBER, "email"], {}), (["CC", "80000555", "email"], {})]
    outcomes = [tasks.issue_temp_key.apply(args=args, kwargs=kwargs).get() for _, args, kwargs in messages]
    assert outcomes == ["sent", "stranger"]
    mails = [m for m in read_mail(sinks["mail_dir"]) if "clave temporal" in m["subject"].lower()]
    assert len(mails) == 1 and mails[0]["to"] == "carlos.mejia@example.coop"
    key = re.search(r"es: ([A-Za-z0-9]{8})", mails[0]["body"]).group(1)
    everything = _all_redis()
    assert everything and not [text for text in everything if key in text]
