"""Bad input on every field: a clear Spanish message, a 4xx, nothing changed, never a 500."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select, update

from db.engine import session_scope
from db.models import AuditEvent, Credential, Member, OutboxMessage
from tests.integration.auth import auth_pages
from tests.support.payments import DEMO_DOCUMENT as DOC_MEMBER

pytestmark = pytest.mark.integration

BAD_VALUES = [
    "",
    "x" * 10_000,
    "1" * 10_000,
    "１２３４５６７８",  # full-width digits
    "١٢٣٤٥٦٧٨",  # Arabic-Indic digits
    "ñandú 😀 \u202e\u200b",
    "<script>alert('x')</script>",
    "\"><img src=x onerror=alert(1)>",
    "1077227777' OR '1'='1",
    "1; DROP TABLE members;--",
    "\x00\x01\x7f",
    "%00%27",
]
SPANISH = ("Ingresa", "Selecciona", "solo puede", "demasiado", "formulario", "Elige", "No pudimos", "debes",
           "frase", "teclado", "no es válid", "expiró")


def snapshot() -> tuple:
    with session_scope() as db:
        creds = db.execute(select(Credential).order_by(Credential.member_id)).scalars().all()
        members = db.execute(select(Member).order_by(Member.id)).scalars().all()
        return (
            [(c.password_hash, c.temp_key_hash, c.failed_attempts, c.locked_until, c.security_image,
              c.security_phrase, c.must_change, c.last_login_at) for c in creds],
            [(m.data_consent_version, m.data_consent_at) for m in members],
            db.execute(select(func.count()).select_from(OutboxMessage)).scalar_one(),
            db.execute(select(func.count()).select_from(AuditEvent)).scalar_one(),
        )


def assert_refused(response) -> None:  # noqa: ANN001
    text = response.get_data(as_text=True)
    assert 400 <= response.status_code < 500, (response.status_code, text[:300])
    assert any(word in text for word in SPANISH), text[:1000]
    assert "Traceback" not in text


@pytest.fixture
def app(make_app):  # noqa: ANN001, ANN201
    return make_app(ZONA_LOGIN_IP_LIMIT=100_000)


def test_step1_fields(app, browserish) -> None:  # noqa: ANN001
    client = browserish(app)
    before = snapshot()
    for value in BAD_VALUES:
        token = client.csrf()
        assert_refused(client.post_form("/ingresar", [("csrf_token", token), ("tipo", "CC"), ("documento", value)]))
        assert_refused(client.post_form("/ingresar", [("csrf_token", token), ("tipo", value), ("documento", "123456")]))
    assert_refused(client.post_form("/ingresar", [("tipo", "CC"), ("documento", DOC_MEMBER)]))  # no CSRF
    assert_refused(client.post_form("/ingresar", [("csrf_token", "forged"), ("tipo", "CC"), ("documento", DOC_MEMBER)]))
    assert client.get("/ingresar/clave").status_code == 302  # no document was taken
    assert snapshot() == before


def test_step2_fields(app, browserish, demo_creds) -> None:  # noqa: ANN001
    client = browserish(app)
    page = client.step1(DOC_MEMBER)
    before = snapshot()
    for value in BAD_VALUES:
        for name in ("c", "f", "k"):
            page = client.get("/ingresar/clave").get_data(as_text=True)
            pairs = auth_pages.typed(page, k="Ab1")
            pairs = [(k, value) if k == name else (k, v) for k, v in pairs]
            assert_refused(client.post_form("/ingresar/clave", pairs))
    page = client.get("/ingresar/clave").get_data(as_text=True)
    no_csrf = [p for p in auth_pages.typed(page, k=demo_creds[DOC_MEMBER]) if p[0] != "c"]
    assert_refused(client.post_form("/ingresar/clave", no_csrf))
    too_many = auth_pages.typed(page, k="Ab1") + [("k", "*" * 48)] * 300
    assert_refused(client.post_form("/ingresar/clave", too_many))
    # A browser without the step-1 document (expired login) is told so, not crashed.
    stranger = browserish(app)
    assert_refused(stranger.post_form("/ingresar/clave", auth_pages.typed(page, k="Ab1")))
    assert snapshot() == before


def test_temp_key_fields(app, browserish) -> None:  # noqa: ANN001
    client = browserish(app)
    client.step1(DOC_MEMBER)
    before = snapshot()
    for value in BAD_VALUES + ["SMS", "whatsapp"]:
        page = client.get("/ingresar/clave-temporal").get_data(as_text=True)
        assert_refused(client.post_form("/ingresar/clave-temporal",
                                        [("csrf_token", auth_pages.field(page, "csrf_token")), ("canal", value)]))
    assert_refused(client.post_form("/ingresar/clave-temporal", [("canal", "email")]))
    assert snapshot() == before


def test_steps_after_login(app, browserish, demo_creds) -> None:  # noqa: ANN001
    with session_scope() as db:
        db.execute(update(Credential).values(must_change=True, security_image=None))
        db.execute(update(Member).values(data_consent_version=None))
    client = browserish(app)
    assert client.login(DOC_MEMBER, demo_creds[DOC_MEMBER]).headers["Location"] == "/ingresar/aviso-datos"
    before = snapshot()
    for value in BAD_VALUES + ["no", "SI"]:
        page = client.get("/ingresar/aviso-datos").get_data(as_text=True)
        assert_refused(client.post_form("/ingresar/aviso-datos",
                                        [("csrf_token", auth_pages.field(page, "csrf_token")), ("acepto", value)]))
    assert_refused(client.post_form("/ingresar/aviso-datos", [("acepto", "si")]))
    assert snapshot() == before
    page = client.get("/ingresar/aviso-datos").get_data(as_text=True)
    client.post_form("/ingresar/aviso-datos", [("csrf_token", auth_pages.field(page, "csrf_token")), ("acepto", "si")])

    before = snapshot()
    for value in BAD_VALUES:
        for name in ("c", "f", "n", "r"):
            page = client.get("/ingresar/cambiar-clave").get_data(as_text=True)
            pairs = auth_pages.typed(page, n="Nueva7x", r="Nueva7x")
            if name in ("n", "r"):
                pairs = [p for p in pairs if p[0] != name] + [(name, value)]
            else:
                pairs = [(k, value) if k == name else (k, v) for k, v in pairs]
            assert_refused(client.post_form("/ingresar/cambiar-clave", pairs))
    assert snapshot() == before
    page = client.get("/ingresar/cambiar-clave").get_data(as_text=True)
    assert client.post_form("/ingresar/cambiar-clave", auth_pages.typed(page, n="Nueva7x", r="Nueva7x")).status_code == 303

    before = snapshot()
    for value in BAD_VALUES + ["ab", "x" * 41, "../../etc/passwd"]:
        page = client.get("/ingresar/seguridad").get_data(as_text=True)
        token = auth_pages.field(page, "csrf_token")
        if value.strip() and 3 <= len(" ".join(value.split())) <= 40 and value.isprintable():
            pass  # printable phrases of the right length are legitimate (escaped on output)
        else:
            assert_refused(client.post_form("/ingresar/seguridad",
                                            [("csrf_token", token), ("imagen", "sol"), ("frase", value)]))
        assert_refused(client.post_form("/ingresar/seguridad",
                                        [("csrf_token", token), ("imagen", value), ("frase", "Mi frase")]))
    assert_refused(client.post_form("/ingresar/seguridad", [("imagen", "sol"), ("frase", "Mi frase")]))
    assert snapshot() == before


@pytest.mark.parametrize("method,path", [
    ("GET", "/no-existe"), ("DELETE", "/ingresar"), ("PUT", "/ingresar/clave"), ("GET", "/zona/seccion/<x>"),
    ("GET", "/ingresar/clave?x=" + "y" * 5000),
])
def test_error_pages_are_spanish(app, browserish, method, path) -> None:  # noqa: ANN001
    client = browserish(app)
    response = client.client.open(path, method=method)
    text = response.get_data(as_text=True)
    assert response.status_code in (302, 404, 405), response.status_code
    if response.status_code != 302:
        assert "no existe" in text or "no admite" in text
    json_response = client.client.open("/no-existe", headers={"Accept": "application/json"})
    assert json_response.status_code == 404 and json_response.json["mensaje"]


def test_oversized_body_is_413(app, browserish) -> None:  # noqa: ANN001
    client = browserish(app)
    response = client.post_form("/ingresar", [("csrf_token", client.csrf()), ("documento", "1" * 600_000)])
    assert response.status_code == 413 and "supera el tamaño" in response.get_data(as_text=True)
