"""Sessions cannot overwrite each other (issue 9, item 4), on the login's own state: the
keyboard seeds live beside the session and are used once whatever runs in parallel."""
from __future__ import annotations

import pytest
import redis

from tests.integration.auth import auth_pages
from tests.support.interleave import held_request
from tests.support.payments import DEMO_DOCUMENT as DOC_MEMBER
from webapp.auth import keyboard

pytestmark = pytest.mark.integration


def _sessions() -> redis.Redis:
    from zona_privada.settings import get_settings

    return redis.Redis.from_url(get_settings().sessions_redis_url)


def test_a_used_keyboard_seed_stays_used_across_a_status_poll(make_app, browserish, demo_creds) -> None:  # noqa: ANN001
    """The poll read the session while the seed was unused and wrote it back after the
    login used it: the same form could then be posted again. Now the seed is redeemed in
    Redis (read and delete at once) and no poll can bring it back."""
    app = make_app()
    client = browserish(app)
    page = client.step1(DOC_MEMBER)
    pairs = auth_pages.typed(page, k="incorrecta1"[:8])
    with held_request(app, "/sesion/estado", ("zp_sesion", client.session_cookie())):
        first = client.post_form("/ingresar/clave", pairs)
        assert first.status_code == 401
    again = client.post_form("/ingresar/clave", pairs)
    assert again.status_code == 400, again.status_code


def test_seed_store_is_single_use_and_bounded(make_app) -> None:  # noqa: ANN001
    make_app()  # flushes the Redis databases
    store = keyboard.SeedStore(_sessions(), "scope", 60)
    boards = [keyboard.new_keyboard(2) for _ in range(keyboard.KEEP_KEYBOARDS + 1)]
    for kb in boards:
        store.remember(kb)
    assert store.redeem(boards[0].form_id) is None  # the oldest was forgotten
    assert store.redeem(boards[-1].form_id) == (boards[-1].seed, 2)
    assert store.redeem(boards[-1].form_id) is None  # single use
    assert store.redeem("x" * 10_000) is None
    assert 0 < _sessions().ttl("zp:kb:scope") <= 60  # its own expiry


def test_a_status_poll_writes_nothing(make_app, browserish, demo_creds) -> None:  # noqa: ANN001
    client = browserish(make_app())
    assert client.login(DOC_MEMBER, demo_creds[DOC_MEMBER]).status_code == 303
    key = f"zp:s:{client.session_cookie()}"
    before = _sessions().hgetall(key)
    assert client.get("/sesion/estado").get_json()["activa"] is True
    assert _sessions().hgetall(key) == before
