"""Members and operators never share a session: a member's session does not open the
console, an operator's does not open the member's zone, and no console route answers
without an operator's session."""
from __future__ import annotations

import pytest
from flask import Flask

from tests.integration.operator.console import console, counts, make_operator, member_session_cookie
from tests.support.payments import Demo

pytestmark = pytest.mark.integration

CONSOLE_GETS = ["/operador/", "/operador/pagos/1", "/operador/atascados", "/operador/pse",
                "/operador/incumplimientos", "/operador/revision", "/operador/solicitudes",
                "/operador/trabajadores", "/operador/inscribir"]
CONSOLE_POSTS = ["/operador/pagos/1/consultar", "/operador/pagos/1/reimpulsar", "/operador/pagos/1/solicitar",
                 "/operador/revision/1/resolver", "/operador/solicitudes/1/aprobar",
                 "/operador/solicitudes/1/rechazar"]


def test_no_console_route_answers_without_an_operator_session(app: Flask, applied: int) -> None:
    client = app.test_client()
    before = counts()
    for path in CONSOLE_GETS:
        response = client.get(path)
        assert response.status_code == 303 and "/operador/ingresar" in response.headers["Location"], path
    for path in CONSOLE_POSTS:
        response = client.post(path, data={"motivo": "un motivo suficientemente largo", "tipo": "reversal"})
        assert response.status_code in (303, 400), path
        if response.status_code == 303:
            assert "/operador/ingresar" in response.headers["Location"], path
    assert counts() == before


def test_a_members_session_does_not_open_the_console(app: Flask, demo: Demo, applied: int) -> None:
    client = app.test_client()
    client.set_cookie("zp_sesion", member_session_cookie(app, demo.member_id))
    assert client.get("/zona/").status_code == 200  # the member's session is a live one
    before = counts()
    for path in CONSOLE_GETS:
        response = client.get(path)
        assert response.status_code == 303 and "/operador/ingresar" in response.headers["Location"], path
    for path in CONSOLE_POSTS:
        response = client.post(path, data={"motivo": "un motivo suficientemente largo", "tipo": "reversal"})
        assert response.status_code == 303 and "/operador/ingresar" in response.headers["Location"], path
    assert counts() == before
    # The member's session id as the console's cookie means nothing there either.
    client.set_cookie("zp_operador", member_session_cookie(app, demo.member_id), path="/operador")
    assert client.get("/operador/").status_code == 303


def test_an_operators_session_does_not_open_the_members_zone(app: Flask, demo: Demo) -> None:
    ana = make_operator("ana", "supervisor")
    c = console(app).logged_in(ana)
    sid = c.cookie()
    # The console's cookie is scoped to /operador: the browser never sends it to /zona.
    response = c.client.get("/zona/")
    assert response.status_code in (302, 303) and "/ingresar" in response.headers["Location"]
    assert "/operador" not in response.headers["Location"]
    # Even presented as a member's session cookie, an operator's id opens nothing.
    c.client.set_cookie("zp_sesion", sid)
    response = c.client.get("/zona/")
    assert response.status_code in (302, 303) and "/operador" not in response.headers["Location"]
    assert c.client.get("/pagos/").status_code in (302, 303, 404)
    # And the console still works for the operator.
    assert c.get("/operador/").status_code == 200


def test_the_console_never_creates_a_members_session(app: Flask, demo: Demo) -> None:
    ana = make_operator("ana", "operador")
    c = console(app).logged_in(ana)
    for path in ("/operador/", "/operador/solicitudes", "/operador/revision"):
        response = c.get(path)
        assert "zp_sesion" not in response.headers.get("Set-Cookie", ""), path
    assert c.client.get_cookie("zp_sesion") is None
    cookie = c.client.get_cookie("zp_operador", path="/operador")
    assert cookie is not None and cookie.path == "/operador" and cookie.http_only
