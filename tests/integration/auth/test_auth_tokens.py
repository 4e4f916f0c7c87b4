"""The same password posted twice: no shared token, and no two-character piece of the
password anywhere in either posted body."""
from __future__ import annotations

import urllib.parse

import pytest

from tests.integration.auth import auth_pages
from tests.support.payments import DEMO_DOCUMENT as DOC_MEMBER

pytestmark = pytest.mark.integration


def test_same_password_twice_shares_nothing(make_app, browserish, demo_creds) -> None:  # noqa: ANN001
    app = make_app()
    password = demo_creds[DOC_MEMBER]
    bodies, token_sets = [], []
    for _ in range(2):
        client = browserish(app)
        response = client.login(DOC_MEMBER, password)
        assert response.status_code == 303 and response.headers["Location"] == "/zona/"
        bodies.append(client.last_body)
        token_sets.append({v for k, v in urllib.parse.parse_qsl(client.last_body) if k == "k"})
    assert len(token_sets[0]) == len(token_sets[1]) == len(password)
    assert not token_sets[0] & token_sets[1]
    for body in bodies:
        assert not any(piece in body for piece in auth_pages.bigrams(password))
        # Stronger: no two letters or digits in a row anywhere in the body.
        assert not any(a.isalnum() and b.isalnum() for a, b in zip(body, body[1:]))


def test_repeated_character_gets_different_tokens(make_app, browserish) -> None:  # noqa: ANN001
    client = browserish(make_app())
    page = client.step1(DOC_MEMBER)
    pairs = auth_pages.typed(page, k="aaAA11")
    tokens = [v for k, v in pairs if k == "k"]
    assert len(set(tokens)) == 6


def test_reused_and_replayed_forms_are_refused(make_app, browserish, demo_creds) -> None:  # noqa: ANN001
    app = make_app()
    client = browserish(app)
    page = client.step1(DOC_MEMBER)
    pairs = auth_pages.typed(page, k=demo_creds[DOC_MEMBER])
    assert client.post_form("/ingresar/clave", pairs).status_code == 303
    # Replaying the very same body (say, from a proxy log) is refused.
    thief = browserish(app)
    thief.step1(DOC_MEMBER)
    replay = thief.post_form("/ingresar/clave", pairs)
    assert replay.status_code == 400
    # The tokens of one page load do not work on the next one.
    client2 = browserish(app)
    old_page = client2.step1(DOC_MEMBER)
    fresh_page = client2.get("/ingresar/clave").get_data(as_text=True)
    old_tokens = auth_pages.typed(old_page, k=demo_creds[DOC_MEMBER])[2:]
    mixed = [("c", auth_pages.field(fresh_page, "c")), ("f", auth_pages.field(fresh_page, "f"))] + old_tokens
    response = client2.post_form("/ingresar/clave", mixed)
    assert response.status_code == 400 and "No pudimos leer la clave" in response.get_data(as_text=True)
    # The same page's form posted twice: the second post finds its keyboard used.
    page = client2.get("/ingresar/clave").get_data(as_text=True)
    pairs = auth_pages.typed(page, k="Wrong1")
    assert client2.post_form("/ingresar/clave", pairs).status_code == 401
    again = client2.post_form("/ingresar/clave", pairs)
    assert again.status_code == 400 and "ya fue usado" in again.get_data(as_text=True)
    # One token used twice in one form.
    page = client2.get("/ingresar/clave").get_data(as_text=True)
    pairs = auth_pages.typed(page, k="A")
    doubled = client2.post_form("/ingresar/clave", pairs + [pairs[-1]])
    assert doubled.status_code == 400
