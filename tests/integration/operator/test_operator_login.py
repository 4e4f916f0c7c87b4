"""Operators' login: key and TOTP code, wrong code, reused code, lockout, enrolment with
its one-time QR, the CLI that creates them, and the idle limit enforced server-side."""
from __future__ import annotations

import io
import json
import time
from contextlib import redirect_stdout

import pyotp
import pytest
import redis
from flask import Flask
from sqlalchemy import text

from db.engine import session_scope
from tests.integration.operator.console import away_from_step_edge, console, counts, make_operator
from zona_privada.settings import get_settings

pytestmark = pytest.mark.integration


def _operator_row(operator_id: int) -> dict[str, object]:
    with session_scope() as db:
        return dict(db.execute(text("SELECT * FROM operators WHERE id = :id"), {"id": operator_id}).mappings().one())


def _kinds(operator_id: int) -> list[str]:
    with session_scope() as db:
        return list(db.execute(text("SELECT kind FROM operator_actions WHERE operator_id = :id ORDER BY id"),
                               {"id": operator_id}).scalars())


def test_key_and_code_log_in_and_the_login_is_recorded(app: Flask) -> None:
    ana = make_operator("ana", "operador")
    c = console(app).logged_in(ana)
    page = c.get("/operador/").get_data(as_text=True)
    assert "Pagos" in page and 'id="op-role">Operador<' in page
    row = _operator_row(ana.id)
    assert row["last_login_at"] is not None and row["last_login_ip"] == "127.0.0.1"
    assert row["failed_attempts"] == 0
    assert _kinds(ana.id)[-1] == "login_succeeded"


def test_a_wrong_code_or_key_is_refused_in_spanish_and_counted(app: Flask) -> None:
    ana = make_operator("ana", "operador")
    c = console(app)
    wrong = str((int(ana.code()) + 1) % 1_000_000).zfill(6)
    response = c.login(ana, wrong)
    assert response.status_code == 401
    assert "Usuario, clave o código incorrectos" in response.get_data(as_text=True)
    response = c.login(ana, key=ana.key + "x")
    assert response.status_code == 401
    assert _operator_row(ana.id)["failed_attempts"] == 2
    assert c.get("/operador/").status_code == 303  # not in
    assert _kinds(ana.id)[-2:] == ["login_failed", "login_failed"]


def test_an_unknown_user_gets_the_same_answer(app: Flask) -> None:
    make_operator("ana", "operador")
    c = console(app)
    c.get("/operador/ingresar")
    response = c.post("/operador/ingresar", {"usuario": "nadie", "clave": "x" * 20, "codigo": "123456"})
    assert response.status_code == 401 and "Usuario, clave o código incorrectos" in response.get_data(as_text=True)


def test_a_code_is_accepted_once_within_its_window(app: Flask) -> None:
    ana = make_operator("ana", "operador")
    away_from_step_edge()
    code = ana.code()
    first = console(app)
    assert first.login(ana, code).status_code == 303
    # Another browser (a shoulder-surfer) with the same key and the same code.
    response = console(app).login(ana, code)
    assert response.status_code == 401
    assert "Ese código ya se usó" in response.get_data(as_text=True)
    # An older code of the window is refused too.
    older = pyotp.TOTP(ana.secret).at(time.time() - 30)
    assert console(app).login(ana, older).status_code == 401


def test_failures_lock_the_account_even_for_the_right_key_and_code(app: Flask) -> None:
    ana = make_operator("ana", "operador")
    c = console(app)
    for _ in range(3):  # ZONA_LOCKOUT_THRESHOLD=3 in the fixture
        response = c.login(ana, "000000" if ana.code() != "000000" else "111111")
    assert response.status_code == 423
    assert "Cuenta bloqueada" in response.get_data(as_text=True)
    assert _operator_row(ana.id)["locked_until"] is not None
    response = c.login(ana, ana.code())
    assert response.status_code == 423
    assert c.get("/operador/").status_code == 303
    assert "account_locked" in _kinds(ana.id)


def test_bad_login_input_is_a_spanish_422_and_counts_nothing(app: Flask) -> None:
    ana = make_operator("ana", "operador")
    c = console(app)
    before = counts()
    for form in ({"usuario": "", "clave": ana.key, "codigo": ana.code()},
                 {"usuario": "ana", "clave": "", "codigo": ana.code()},
                 {"usuario": "ana", "clave": ana.key, "codigo": "12ab56"},
                 {"usuario": "a" * 41, "clave": ana.key, "codigo": ana.code()}):
        c.get("/operador/ingresar")
        response = c.post("/operador/ingresar", form)
        assert response.status_code == 422, form
        assert "Escriba su" in response.get_data(as_text=True) or "6 dígitos" in response.get_data(as_text=True)
    c.get("/operador/ingresar")
    response = c.post("/operador/ingresar", {"usuario": "ana", "clave": ana.key, "codigo": ana.code()},
                      csrf="forged")
    assert response.status_code == 400 and "formulario expiró" in response.get_data(as_text=True)
    assert counts() == before


def test_enrolment_shows_the_qr_once_and_needs_a_valid_code(app: Flask) -> None:
    from db import operators as ops

    with session_scope() as db:
        operator_id, key = ops.create_operator(db, "beto", "supervisor")
    c = console(app)
    c.get("/operador/ingresar")
    response = c.post("/operador/ingresar", {"usuario": "beto", "clave": key, "codigo": ""})
    assert response.status_code == 303 and response.headers["Location"].endswith("/operador/inscribir")
    assert c.get("/operador/").headers["Location"].endswith("/operador/inscribir")  # not in yet
    page = c.get("/operador/inscribir").get_data(as_text=True)
    assert "<svg" in page
    first_secret = page.split('id="op-secret">')[1].split("<")[0]
    page = c.get("/operador/inscribir").get_data(as_text=True)
    secret = page.split('id="op-secret">')[1].split("<")[0]
    assert secret != first_secret  # a QR is good only while it is the last one shown
    stale = pyotp.TOTP(first_secret).now()
    if stale != pyotp.TOTP(secret).now():
        response = c.post("/operador/inscribir", {"codigo": stale})
        assert response.status_code == 422 and "no corresponde" in response.get_data(as_text=True)
    assert _operator_row(operator_id)["totp_enrolled_at"] is None
    away_from_step_edge()
    response = c.post("/operador/inscribir", {"codigo": pyotp.TOTP(secret).now()})
    assert response.status_code == 303 and response.headers["Location"].endswith("/operador/")
    assert c.get("/operador/").status_code == 200
    assert _operator_row(operator_id)["totp_enrolled_at"] is not None
    assert c.get("/operador/inscribir").status_code == 303  # once enrolled, no QR again
    assert _kinds(operator_id)[-2:] == ["totp_enrolled", "login_succeeded"]
    # From now on the key alone is not enough.
    other = console(app)
    other.get("/operador/ingresar")
    response = other.post("/operador/ingresar", {"usuario": "beto", "clave": key, "codigo": ""})
    assert response.status_code == 401


def test_zona_operator_add_creates_an_operator_with_a_strong_first_key(app: Flask) -> None:
    from zona_privada.cli import main

    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["operator", "add", "Carla", "--role", "supervisor"]) == 0
    key = out.getvalue().split("clave inicial: ")[1].split()[0]
    assert len(key) >= 24
    with session_scope() as db:
        row = db.execute(text("SELECT username, role, key_hash FROM operators")).one()
    assert row.username == "carla" and row.role == "supervisor" and row.key_hash.startswith("$argon2id$")
    assert key not in row.key_hash
    c = console(app)
    c.get("/operador/ingresar")
    assert c.post("/operador/ingresar", {"usuario": "carla", "clave": key, "codigo": ""}).status_code == 303
    # A bad role, a bad name or a taken name: refused, nothing created.
    with pytest.raises(SystemExit):
        main(["operator", "add", "dora", "--role", "jefe"])
    assert main(["operator", "add", "x!", "--role", "operador"]) == 1
    assert main(["operator", "add", "carla", "--role", "operador"]) == 1
    with session_scope() as db:
        assert db.execute(text("SELECT count(*) FROM operators")).scalar_one() == 1


def test_the_idle_limit_is_enforced_by_the_server(app: Flask) -> None:
    ana = make_operator("ana", "operador")
    c = console(app).logged_in(ana)
    sid = c.cookie()
    assert sid
    client = redis.Redis.from_url(get_settings().sessions_redis_url)
    data = json.loads(client.get("zp:op:" + sid))
    data["seen"] -= get_settings().session_idle_timeout_s + 1
    client.set("zp:op:" + sid, json.dumps(data))
    response = c.get("/operador/")
    assert response.status_code == 303 and "sesion=idle" in response.headers["Location"]
    assert client.get("zp:op:" + sid) is None
    page = c.get(response.headers["Location"]).get_data(as_text=True)
    assert "se cerró por inactividad" in page
    client.close()


def test_logout_ends_the_session_server_side(app: Flask) -> None:
    ana = make_operator("ana", "operador")
    c = console(app).logged_in(ana)
    sid = c.cookie()
    assert c.post("/operador/salir").status_code == 303
    client = redis.Redis.from_url(get_settings().sessions_redis_url)
    assert client.get("zp:op:" + sid) is None
    client.close()
    assert c.get("/operador/").status_code == 303
    assert _kinds(ana.id)[-1] == "logout"


def test_wrong_codes_on_the_enrolment_page_lock_the_account(app: Flask) -> None:
    from db import operators as ops

    with session_scope() as db:
        operator_id, key = ops.create_operator(db, "beto", "supervisor")
    c = console(app)
    c.get("/operador/ingresar")
    c.post("/operador/ingresar", {"usuario": "beto", "clave": key, "codigo": ""})
    page = c.get("/operador/inscribir").get_data(as_text=True)
    secret = page.split('id="op-secret">')[1].split("<")[0]
    totp = pyotp.TOTP(secret)
    now = time.time()
    valid = {totp.at(now + 30 * k) for k in (-1, 0, 1)}
    wrong = next(code for code in ("000000", "111111", "222222", "333333") if code not in valid)
    for _ in range(2):
        response = c.post("/operador/inscribir", {"codigo": wrong})
        assert response.status_code == 422
    response = c.post("/operador/inscribir", {"codigo": wrong})  # the third: ZONA_LOCKOUT_THRESHOLD=3
    assert response.status_code == 423 and "Cuenta bloqueada" in response.get_data(as_text=True)
    row = _operator_row(operator_id)
    assert row["locked_until"] is not None and row["totp_enrolled_at"] is None
    # The session ended; the right code now changes nothing.
    assert c.post("/operador/inscribir", {"codigo": totp.now()}).status_code in (303, 400)
    assert _operator_row(operator_id)["totp_enrolled_at"] is None


def test_a_disabled_operator_is_out_at_the_next_request_and_cannot_log_in(app: Flask) -> None:
    from zona_privada.cli import main

    ana = make_operator("ana", "supervisor")
    c = console(app).logged_in(ana)
    with redirect_stdout(io.StringIO()):
        assert main(["operator", "disable", "ana"]) == 0
        assert main(["operator", "disable", "nadie"]) == 1
    assert c.get("/operador/").status_code == 303
    response = console(app).login(ana, ana.code(1))
    assert response.status_code == 401
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["operator", "list"]) == 0
    assert "ana" in out.getvalue() and "deshabilitado" in out.getvalue()
