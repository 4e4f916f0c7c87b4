"""Bad input anywhere in the wizard: a clear Spanish message, a 4xx, and nothing written
(no intent, no journal entry). Never a 500."""
from __future__ import annotations

import re
import time

import pytest

from tests.integration.web_payments import pages
from tests.integration.web_payments.db_checks import counts, intents

NOT_YOURS_OBLIGATION = "La obligación seleccionada no existe o no le pertenece"
NOT_YOURS_ACCOUNT = "La cuenta seleccionada no existe o no le pertenece"


def _to_obligations(m) -> str:  # noqa: ANN001
    token = m.csrf()
    assert m.post("/zona/pagos/", [("csrf_token", token), ("tipo", "individual")]).status_code == 303
    return token


@pytest.mark.parametrize(("typed", "message"), [
    ("-5000", "El valor debe ser mayor que cero"),
    ("0", "El valor debe ser mayor que cero"),
    ("doce mil", "Ingrese un valor numérico válido"),
    ("38000,50", "Ingrese el valor en pesos, sin centavos"),
    ("38.000,5", "Ingrese el valor en pesos, sin centavos"),
    ("9999999999999", "El valor excede el máximo permitido"),
    ("5.000.000", "El valor supera lo adeudado en Aportes sociales"),
])
def test_otro_valor_refused_with_spanish_message(member, typed: str, message: str) -> None:  # noqa: ANN001
    m = member()
    token = _to_obligations(m)
    before = counts()
    response = m.post("/zona/pagos/obligaciones", [("csrf_token", token), (f"otro_{m.ids.aportes}", typed)])
    assert response.status_code == 422
    assert message in pages.text(response)
    assert counts() == before
    # The wizard did not move on.
    assert m.get("/zona/pagos/formas-de-pago").status_code == 302


@pytest.mark.parametrize("typed", ["38000", "38.000", "38,000", "$ 38.000", "$38,000.00", "38.000,00"])
def test_otro_valor_whole_pesos_in_any_grouping(member, typed: str) -> None:  # noqa: ANN001
    m = member()
    token = _to_obligations(m)
    pairs = [("csrf_token", token), (f"otro_{m.ids.loan}", typed), (f"modo_{m.ids.loan}", "reduce_term")]
    assert m.post("/zona/pagos/obligaciones", pairs).status_code == 303
    assert "$38,000.00" in pages.text(m.get("/zona/pagos/formas-de-pago"))


def test_prepayment_needs_the_members_choice(member) -> None:  # noqa: ANN001
    m = member()
    token = _to_obligations(m)
    response = m.post("/zona/pagos/obligaciones", [("csrf_token", token), (f"otro_{m.ids.loan}", "100.000")])
    assert response.status_code == 422
    assert "Elija si el abono reduce el plazo o el valor de la cuota" in pages.text(response)


def test_nothing_chosen(member) -> None:  # noqa: ANN001
    m = member()
    token = _to_obligations(m)
    response = m.post("/zona/pagos/obligaciones", [("csrf_token", token)])
    assert response.status_code == 422 and "Seleccione al menos una obligación" in pages.text(response)


@pytest.mark.parametrize("field", ["cuota", "otro", "modo"])
def test_another_members_obligation_is_404(member, field: str) -> None:  # noqa: ANN001
    m = member()
    token = _to_obligations(m)
    foreign = str(m.ids.other_obligation)
    pairs = {"cuota": [("cuota", foreign)], "otro": [(f"otro_{foreign}", "5000")],
             "modo": [("cuota", str(m.ids.aportes)), (f"modo_{foreign}", "reduce_term")]}[field]
    before = counts()
    response = m.post("/zona/pagos/obligaciones", [("csrf_token", token)] + pairs)
    assert response.status_code == 404 and NOT_YOURS_OBLIGATION in pages.text(response)
    assert counts() == before


@pytest.mark.parametrize("pairs", [
    lambda ids: [("forma", "debito"), ("cuenta", str(ids.other_account))],
    lambda ids: [("forma", "debito"), ("cuenta", "99999")],
    lambda ids: [("forma", "multiple"), ("cuentas", str(ids.rentadiario)), ("cuentas", str(ids.other_account)),
                 (f"valor_{ids.other_account}", "1000")],
])
def test_another_members_account_is_404(member, pairs) -> None:  # noqa: ANN001
    m = member()
    token = _to_obligations(m)
    assert m.post("/zona/pagos/obligaciones", [("csrf_token", token), ("cuota", str(m.ids.aportes))]).status_code == 303
    response = m.post("/zona/pagos/formas-de-pago", [("csrf_token", token)] + pairs(m.ids))
    assert response.status_code == 404 and NOT_YOURS_ACCOUNT in pages.text(response)


def test_split_must_add_up(member) -> None:  # noqa: ANN001
    m = member()
    token = _to_obligations(m)
    assert m.post("/zona/pagos/obligaciones", [("csrf_token", token), ("cuota", str(m.ids.loan))]).status_code == 303
    base = [("csrf_token", token), ("forma", "multiple"), ("cuentas", str(m.ids.rentadiario)),
            ("cuentas", str(m.ids.rentahorrito))]
    response = m.post("/zona/pagos/formas-de-pago", base + [(f"valor_{m.ids.rentadiario}", "10.000"),
                                                             (f"valor_{m.ids.rentahorrito}", "10.000")])
    assert response.status_code == 422 and "La suma de los valores por cuenta" in pages.text(response)
    # One blank value takes the rest.
    response = m.post("/zona/pagos/formas-de-pago", base + [(f"valor_{m.ids.rentadiario}", "10.000"),
                                                             (f"valor_{m.ids.rentahorrito}", "")])
    assert response.status_code == 303
    page = pages.text(m.get("/zona/pagos/verificacion"))
    assert "Rentadiario RD-1077227777: $10,000.00" in page and "Rentahorrito RH-1077227777: $24,200.00" in page
    assert "GMF" in page  # Rentahorrito is not exempt


@pytest.mark.parametrize("override", [
    {"total": "$1.00"},
    {"resumen": "0" * 64},
    {"clave": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
    {"clave": "<script>"},
])
def test_tampered_hidden_fields(member, override: dict[str, str]) -> None:  # noqa: ANN001
    m = member()
    page = m.two_next_items()
    before = counts()
    response = m.post("/zona/pagos/finalizar", pages.finish_pairs(page, **override))
    assert response.status_code == 422
    body = pages.text(response)
    assert "no coinciden con los que usted verificó" in body or "recargue la página de verificación" in body
    assert counts() == before and intents() == []


def test_missing_csrf_token(member) -> None:  # noqa: ANN001
    m = member()
    page = m.two_next_items()
    pairs = [p for p in pages.finish_pairs(page) if p[0] != "csrf_token"]
    response = m.post("/zona/pagos/finalizar", pairs)
    assert response.status_code == 400 and "El formulario expiró o no es válido" in pages.text(response)
    assert intents() == []


def test_same_key_with_another_body_is_422(member) -> None:  # noqa: ANN001
    """Another request already used this key for something else (say, the API): refused."""
    from db.engine import session_scope
    from db.payments.intents import create_intent

    m = member()
    page = m.two_next_items()
    key = pages.field(page, "clave")
    with session_scope() as db:
        create_intent(db, member_id=m.ids.member_id, idempotency_key=key, kind="payment",
                      lines=[{"obligation_id": m.ids.aportes, "amount": "3800"}],
                      funding=[{"savings_account_id": m.ids.rentadiario, "amount": "3800"}])
    before = counts()
    response = m.post("/zona/pagos/finalizar", pages.finish_pairs(page))
    assert response.status_code == 422
    assert "Esta solicitud ya se envió con otros datos" in pages.text(response)
    assert counts() == before and len(intents()) == 1


def test_replay_gives_the_same_intent(member) -> None:  # noqa: ANN001
    m = member()
    page = m.two_next_items()
    first = m.post("/zona/pagos/finalizar", pages.finish_pairs(page))
    again = m.post("/zona/pagos/finalizar", pages.finish_pairs(page))
    assert first.status_code == again.status_code == 303
    assert first.headers["Location"] == again.headers["Location"]
    assert len(intents()) == 1
    # The wizard starts over after "Finalizar": verification is not shown again.
    assert m.get("/zona/pagos/verificacion").status_code == 302


def test_another_members_status_and_receipt_are_404(member) -> None:  # noqa: ANN001
    from db.engine import session_scope
    from db.payments.intents import create_intent

    m = member()
    with session_scope() as db:
        other_intent, _ = create_intent(db, member_id=m.ids.other_member_id, idempotency_key="otro-asociado-1",
                                        kind="payment", lines=[{"obligation_id": m.ids.other_obligation,
                                                                "amount": "5000"}],
                                        funding=[{"savings_account_id": m.ids.other_account, "amount": "5000"}])
    for path in (f"/zona/pagos/estado/{other_intent}", f"/zona/pagos/comprobante/{other_intent}"):
        response = m.get(path)
        assert response.status_code == 404 and "no existe o no le pertenece" in pages.text(response)
    response = m.get(f"/zona/pagos/estado/{other_intent}.json", headers={"Accept": "application/json"})
    assert response.status_code == 404 and "no existe o no le pertenece" in response.get_json()["mensaje"]
    assert m.get("/zona/pagos/historial?antes=abc").status_code == 400


def test_insufficient_balance_stops_at_requisitos(member) -> None:  # noqa: ANN001
    m = member()
    token = m.csrf()
    response = m.post("/zona/pagos/transferencias", [
        ("csrf_token", token), ("destino", str(m.ids.rentadiario)), ("origen", str(m.ids.rentahorrito)),
        ("valor", "900.000")])
    assert response.status_code == 303
    page = pages.text(m.get("/zona/pagos/requisitos"))
    assert "No cumple" in page and "Saldo insuficiente" in page and 'id="siguiente" disabled' in page
    assert m.get("/zona/pagos/verificacion").status_code == 302
    assert intents() == []


@pytest.mark.parametrize(("pairs", "status", "message"), [
    (lambda ids: [("destino", str(ids.rentadiario)), ("origen", str(ids.rentadiario)), ("valor", "1000")], 422,
     "La cuenta de origen y la de destino deben ser distintas"),
    (lambda ids: [("destino", str(ids.other_account)), ("origen", str(ids.rentadiario)), ("valor", "1000")], 404,
     NOT_YOURS_ACCOUNT),
    (lambda ids: [("destino", str(ids.rentadiario)), ("origen", str(ids.rentahorrito)), ("valor", "-1")], 422,
     "El valor debe ser mayor que cero"),
    (lambda ids: [("destino", str(ids.rentadiario)), ("origen", str(ids.rentahorrito)), ("valor", "10,5")], 422,
     "Ingrese el valor en pesos, sin centavos"),
])
def test_transfer_bad_input(member, pairs, status: int, message: str) -> None:  # noqa: ANN001
    m = member()
    response = m.post("/zona/pagos/transferencias", [("csrf_token", m.csrf())] + pairs(m.ids))
    assert response.status_code == status and message in pages.text(response)


# ---------------------------------------------------------------- the one-time code


def _code_from_mail(smtp_sink) -> str:  # noqa: ANN001
    import re

    from tests.processes import wait_for
    from zona_privada.smtp_sink import read_messages

    mails = wait_for(lambda: read_messages(smtp_sink["folder"]), 5)
    assert mails, "no e-mail with the code"
    match = re.search(r"ingrese este código: (\d{6})", mails[-1]["body"])
    assert match, mails[-1]["body"]
    return match.group(1)


def _ask_code(m, page: str) -> str:  # noqa: ANN001
    response = m.post("/zona/pagos/verificacion/codigo", pages.finish_pairs(page) + [("canal", "email")])
    assert response.status_code == 303, pages.text(response)[:500]
    return pages.text(m.get("/zona/pagos/verificacion"))


def test_code_required_above_threshold_wrong_then_right_single_use(member, smtp_sink) -> None:  # noqa: ANN001
    from db.engine import session_scope
    from db.models import OutboxMessage
    from sqlalchemy import select

    m = member(ZONA_PAYMENT_OTP_THRESHOLD_COP="10000")
    page = m.two_next_items()
    assert 'id="codigo-seccion"' in page
    response = m.post("/zona/pagos/finalizar", pages.finish_pairs(page))
    assert response.status_code == 422 and "Solicite el código de confirmación" in pages.text(response)
    page = _ask_code(m, page)
    assert "Enviamos un código por correo electrónico a ma" in page
    code = _code_from_mail(smtp_sink)
    with session_scope() as db:  # the code itself never enters the database
        bodies = db.execute(select(OutboxMessage.body)).scalars().all()
    assert bodies and all(code not in body for body in bodies)
    wrong = f"{(int(code) + 1) % 1000000:06d}"
    response = m.post("/zona/pagos/finalizar", pages.finish_pairs(page) + [("codigo", wrong)])
    assert response.status_code == 422 and "El código de confirmación no es correcto" in pages.text(response)
    assert intents() == []
    response = m.post("/zona/pagos/finalizar", pages.finish_pairs(page) + [("codigo", code)])
    assert response.status_code == 303
    # A replay of the same form finds the same intent; no second code needed.
    again = m.post("/zona/pagos/finalizar", pages.finish_pairs(page) + [("codigo", code)])
    assert again.status_code == 303 and again.headers["Location"] == response.headers["Location"]
    assert len(intents()) == 1
    # The code cannot confirm another payment.
    page2 = m.verification(obligations=[("cuota", str(m.ids.permanente))],
                           funding=[("forma", "debito"), ("cuenta", str(m.ids.rentadiario))])
    response = m.post("/zona/pagos/finalizar", pages.finish_pairs(page2) + [("codigo", code)])
    assert response.status_code in (200, 422)
    assert len(intents()) == 1


def test_expired_code(member, smtp_sink) -> None:  # noqa: ANN001
    m = member(ZONA_PAYMENT_OTP_THRESHOLD_COP="10000", ZONA_OTP_TTL_S="1")
    page = _ask_code(m, m.two_next_items())
    code = _code_from_mail(smtp_sink)
    time.sleep(1.3)
    before = counts()
    response = m.post("/zona/pagos/finalizar", pages.finish_pairs(page) + [("codigo", code)])
    assert response.status_code == 422 and "El código de confirmación venció" in pages.text(response)
    assert counts() == before and intents() == []


def test_below_threshold_needs_no_code(member) -> None:  # noqa: ANN001
    m = member(ZONA_PAYMENT_OTP_THRESHOLD_COP="100000")
    page = m.two_next_items()
    assert 'id="codigo-seccion"' not in page
    assert m.post("/zona/pagos/finalizar", pages.finish_pairs(page)).status_code == 303


def _id_routes(app) -> list[str]:  # noqa: ANN001
    """Every member route whose URL carries an id, from the app's own URL map, so a route
    added later is covered without editing this test."""
    from webapp.converters import IdConverter

    found = []
    for rule in app.url_map.iter_rules():
        ids = [name for name, conv in rule._converters.items() if isinstance(conv, IdConverter)]
        if ids and "GET" in rule.methods:
            found.append(rule.rule)
    return found


@pytest.mark.parametrize("raw", [str(2**63), str(2**63 + 7), "9" * 40, "0"])
def test_ids_out_of_bigint_range_are_404_never_500(member, raw: str) -> None:  # noqa: ANN001
    """`GET /zona/pagos/estado/9223372036854775808` was a 500 (PostgreSQL refused the id
    as out of `bigint`); JSON routes answer JSON."""
    m = member()
    routes = _id_routes(m.client.application)
    assert len(routes) >= 3, routes  # estado, estado.json, comprobante at least
    before = counts()
    for rule in routes:
        path = re.sub(r"<id:[a-z_]+>", raw, rule)
        response = m.get(path)
        assert response.status_code == 404, (path, response.status_code)
        if path.endswith(".json"):
            assert response.is_json and response.get_json()["status"] == 404, path
        else:
            assert "Página no encontrada" in pages.text(response) or "no existe" in pages.text(response), path
    assert counts() == before


def test_largest_bigint_id_is_a_plain_404(member) -> None:  # noqa: ANN001
    """The largest id PostgreSQL can hold reaches the query and is simply not the member's."""
    m = member()
    for path in (f"/zona/pagos/estado/{2**63 - 1}", f"/zona/pagos/estado/{2**63 - 1}.json",
                 f"/zona/pagos/comprobante/{2**63 - 1}"):
        assert m.get(path).status_code == 404, path
