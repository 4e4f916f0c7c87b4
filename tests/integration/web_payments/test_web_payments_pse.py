"""The member's PSE pages (issue 10 item 3) through the Flask app against the REAL PSE
sandbox over HTTP: the wizard offers PSE with the cached bank list, "Finalizar" writes the
right attempts, "Conectando con PSE" sends the member to the bank's page, the bank's page
sends the member back to the return page, and the return page only asks for a query.
The worker's steps run in this process on the real sandbox (the e2e test runs them in
real Celery workers); the query the return page asks for is checked in the real broker.

Every bad input on the PSE pages changes nothing: the tables are compared before/after.
"""
from __future__ import annotations

import json
import re
import time
import urllib.parse
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import redis
import requests
from sqlalchemy import text

from tests.integration.web_payments import pages
from tests.integration.web_payments.db_checks import counts
from tests.support import redis_scan
from tests.support.pse import Sandbox

PAGE_BANK = "1022"  # the sandbox's "the person on the bank page decides"
MSG_NO_BANKS = "No se pudo obtener la lista de Entidades Financieras, por favor intente más tarde"


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    root = tmp_path_factory.mktemp("web-pse")
    sandbox = Sandbox(root / "logs", root / "state")
    sandbox.start()
    yield sandbox
    sandbox.stop()


@pytest.fixture
def sandbox(box: Sandbox, seeded: Any) -> Sandbox:
    """A fresh sandbox and its bank list fetched into the cache, as the beat job does."""
    from workers import pse_tasks

    box.control("reset", {})
    assert pse_tasks.refresh_bank_list(box.provider(), box.settings(), force=True)
    return box


# ---------------------------------------------------------------- helpers


def snapshot() -> dict[str, object]:
    """Every table a PSE page could change, row by row where it matters."""
    from db.engine import session_scope

    out: dict[str, object] = dict(counts())
    with session_scope() as db:
        out["pse"] = db.execute(text(
            "SELECT id, state, trazability_code, bank_url, last_query_at, next_poll_at, poll_count, answered_at "
            "FROM pse_transactions ORDER BY id")).all()
        out["intents"] = db.execute(text("SELECT id, state, failure_reason FROM payment_intents ORDER BY id")).all()
        out["attempts"] = db.execute(text("SELECT id, state FROM funding_attempts ORDER BY id")).all()
        out["holds"] = db.execute(text("SELECT id, state FROM holds ORDER BY id")).all()
        out["review"] = db.execute(text("SELECT count(*) FROM review_items")).scalar_one()
    return out


def broker_tasks() -> list[tuple[str, str]]:
    from zona_privada.settings import get_settings

    return redis_scan.queued_tasks(get_settings().broker_redis_url)


def to_methods(m: Any, obligation_id: int) -> str:
    token = m.csrf()
    assert m.post("/zona/pagos/", [("csrf_token", token), ("tipo", "individual")]).status_code == 303
    assert m.post("/zona/pagos/obligaciones", [("csrf_token", token), ("cuota", str(obligation_id))]).status_code == 303
    return token


def pse_pairs(bank: str = PAGE_BANK, person: str = "natural") -> list[tuple[str, str]]:
    return [("forma", "pse"), ("banco", bank), ("tipo_persona", person)]


def finish(m: Any, verification: str) -> tuple[int, str]:
    response = m.post("/zona/pagos/finalizar", pages.finish_pairs(verification))
    assert response.status_code == 303, pages.text(response)[:500]
    location = response.headers["Location"]
    match = re.search(r"/zona/pagos/pse/conectando/(\d+)$", location)
    assert match, location
    return int(match.group(1)), location


def tx_of(intent_id: int) -> dict[str, Any]:
    from db.engine import session_scope

    with session_scope() as db:
        return dict(db.execute(text(
            "SELECT t.*, f.state AS attempt_state, p.state AS intent_state FROM pse_transactions t "
            "JOIN funding_attempts f ON f.id = t.attempt_id JOIN payment_intents p ON p.id = f.intent_id "
            "WHERE f.intent_id = :id"), {"id": intent_id}).one()._mapping)


def hold_and_send(box: Sandbox, intent_id: int) -> dict[str, Any]:
    """The worker's first two steps (hold, then the create at PSE), on the real sandbox."""
    from db.engine import session_scope
    from db.payments import processing
    from workers import pse_tasks

    with session_scope() as db:
        processing.place_holds(db, intent_id)
    tx = tx_of(intent_id)
    assert pse_tasks.send_transaction(tx["id"], box.provider()) == "created"
    return tx_of(intent_id)


def query(box: Sandbox, intent_id: int) -> str:
    from workers import pse_tasks

    return pse_tasks.query_transaction(tx_of(intent_id)["id"], box.provider())


def settle(intent_id: int) -> str:
    from db.engine import session_scope
    from db.payments import processing

    with session_scope() as db:
        return processing.settle_intent(db, intent_id).state.value


def bank_decides(tx: dict[str, Any], action: str) -> str:
    """What the member does on the bank's page (a real HTTP form post); returns where the
    bank sends the member back (entityurl)."""
    page = requests.get(tx["bank_url"], timeout=5)
    assert page.status_code == 200 and tx["trazability_code"] in page.text
    response = requests.post(tx["bank_url"], data={"accion": action}, allow_redirects=False, timeout=5)
    assert response.status_code == 303, response.text
    return response.headers["Location"]


def local(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def amount_of(obligation_id: int, member_id: int) -> Decimal:
    from db.engine import session_scope
    from db.member_summary import obligations_overview
    from db.seed import bogota_today

    with session_scope() as db:
        return {o.obligation_id: o.next_installment
                for o in obligations_overview(db, member_id, bogota_today())}[obligation_id]


def available(member_id: int) -> dict[int, Decimal]:
    from tests.support.payments import available as avail

    return avail(member_id)


# ---------------------------------------------------------------- the wizard offers PSE


def test_formas_de_pago_offers_pse_with_the_cached_banks_and_person_type(member, sandbox: Sandbox) -> None:  # noqa: ANN001
    m = member()
    to_methods(m, m.ids.aportes)
    page = pages.text(m.get("/zona/pagos/formas-de-pago"))
    assert re.search(r'<input type="radio" name="forma" value="pse" id="forma-pse"\s+>', page), page
    assert "Pagos que se van a realizar desde cuentas de ahorro de otras entidades" in page
    assert "Múltiples opciones de pago" in page and 'id="multi-pse"' in page
    banks = re.findall(r'<option value="(\d*)"[^>]*>([^<]+)</option>', page)
    codes = [code for code, _ in banks]
    # The placeholder is the empty prompt, never PSE's code "0".
    assert codes[0] == "" and "0" not in codes and PAGE_BANK in codes and "9101" in codes
    assert ("1292", "CONFIAR COOPERATIVA FINANCIERA") in banks
    assert 'id="tipo-persona-natural"' in page and "Persona jurídica" in page
    assert 'id="pse-pronto"' not in page and 'id="pse-sin-bancos"' not in page


def test_without_a_bank_list_the_standard_message_and_pse_cannot_be_chosen(member, sandbox: Sandbox) -> None:  # noqa: ANN001
    from db.engine import session_scope

    with session_scope() as db:
        db.execute(text("DELETE FROM pse_banks"))
    m = member()
    token = to_methods(m, m.ids.aportes)
    page = pages.text(m.get("/zona/pagos/formas-de-pago"))
    assert f'id="pse-sin-bancos">{MSG_NO_BANKS}<' in page
    assert re.search(r'id="forma-pse"\s+disabled', page) and 'id="multi-pse"' not in page
    before = snapshot()
    response = m.post("/zona/pagos/formas-de-pago", [("csrf_token", token)] + pse_pairs())
    assert response.status_code == 422 and MSG_NO_BANKS in pages.text(response)
    response = m.post("/zona/pagos/formas-de-pago", [
        ("csrf_token", token), ("forma", "multiple"), ("cuentas", str(m.ids.rentadiario)), ("cuentas", "pse"),
        (f"valor_{m.ids.rentadiario}", "1.000"), ("valor_pse", ""), ("banco", PAGE_BANK),
        ("tipo_persona", "natural")])
    assert response.status_code == 422 and MSG_NO_BANKS in pages.text(response)
    transfers = pages.text(m.get("/zona/pagos/transferencias"))
    assert f'id="pse-sin-bancos">{MSG_NO_BANKS}<' in transfers and re.search(r'id="origen-pse"\s+disabled', transfers)
    assert snapshot() == before
    assert m.get("/zona/pagos/requisitos").status_code == 302  # the wizard did not move on


# ---------------------------------------------------------------- PSE only, approved


def test_pse_only_payment_connects_goes_to_the_bank_returns_and_applies(member, sandbox: Sandbox) -> None:  # noqa: ANN001
    m = member()
    amount = amount_of(m.ids.aportes, m.ids.member_id)
    savings_before = available(m.ids.member_id)
    verification = m.verification(obligations=[("cuota", str(m.ids.aportes))], funding=pse_pairs())
    requirements = pages.text(m.get("/zona/pagos/requisitos"))
    assert "Requisito CUMPLE porque NO hay recaudos con cuentas de ahorro" in requirements
    assert re.search(r'id="forma-recaudo">PSE<', verification)
    assert "PSE - BANCO UNIÓN COLOMBIANO (Persona natural)" in verification
    assert 'id="codigo"' not in verification  # nothing leaves the savings here: no one-time code
    intent_id, location = finish(m, verification)

    tx = tx_of(intent_id)
    assert tx["attempt_state"] == "pending" and tx["state"] == "CREATED" and tx["bank_code"] == PAGE_BANK
    assert tx["user_type"] == 0 and tx["amount"] == amount and tx["payer_ip"] == "127.0.0.1"
    assert tx["entity_url"] == f"http://localhost/zona/pagos/pse/retorno?ticket={tx['ticket_id']}"
    from db.engine import session_scope

    with session_scope() as db:
        kinds = db.execute(text("SELECT kind, amount FROM funding_attempts WHERE intent_id = :i"),
                           {"i": intent_id}).all()
    assert [(k, a) for k, a in kinds] == [("pse", amount)]
    assert ("workers.payment_tasks.hold_intent", f"[{intent_id}]") in broker_tasks()

    # Before PSE answered: "Conectando con PSE", with its JSON and the no-JS refresh.
    connecting = m.get(location)
    assert connecting.status_code == 200
    body = pages.text(connecting)
    assert "Conectando con PSE" in body and '<noscript><meta http-equiv="refresh" content="2"></noscript>' in body
    assert 'id="pse-continuar"' in body and "<iframe" not in body and "window.open" not in body
    assert m.get(f"{location}.json").get_json() == {"estado": "esperando", "url": None, "mensaje": None, "cus": None}

    tx = hold_and_send(sandbox, intent_id)
    assert available(m.ids.member_id) == savings_before  # PSE alone holds nothing of the savings
    polled = m.get(f"{location}.json").get_json()
    assert polled["estado"] == "redirigir" and polled["url"] == tx["bank_url"]
    redirect = m.get(location)
    assert redirect.status_code == 303 and redirect.headers["Location"] == tx["bank_url"]

    back = bank_decides(tx, "aprobar")
    assert back == tx["entity_url"]
    retorno = m.get(local(back))
    assert retorno.status_code == 200
    page = pages.text(retorno)
    # Our database does not know yet: the return only asked for a query.
    assert re.search(r'id="pse-estado">Pendiente<', page) and 'id="pse-pendiente"' in page
    assert f'id="pse-cus">{tx["trazability_code"]}<' in page
    assert 'id="pse-banco">BANCO UNIÓN COLOMBIANO<' in page and f'id="pse-valor">{pages_cop(amount)}<' in page
    assert 'id="pse-ip">127.0.0.1<' in page and f"Pago Zona Privada No. {intent_id}" in page
    assert 'id="pse-nit">890900123<' in page and re.search(r'id="pse-fecha">\d+ de \w+ de \d{4}, \d+:\d\d [ap]\. m\.<', page)
    assert 'id="imprimir"' in page and 'id="finalizar-pse"' in page and 'id="reintentar"' not in page
    assert ("workers.pse_tasks.pse_query", f"[{tx['id']}]") in broker_tasks()

    assert query(sandbox, intent_id) == "OK"
    assert tx_of(intent_id)["intent_state"] == "funded"
    assert settle(intent_id) == "applied"
    page = pages.text(m.get(local(back)))
    assert re.search(r'id="pse-estado">Aprobada<', page) and 'id="pse-aprobado"' in page
    assert f'href="/zona/pagos/estado/{intent_id}"' in page

    status = pages.text(m.get(f"/zona/pagos/estado/{intent_id}"))
    assert re.search(r'id="etapa">Aplicado<', status)
    assert f'id="cus-estado">{tx["trazability_code"]}<' in status and "PSE - BANCO UNIÓN COLOMBIANO" in status
    receipt = pages.text(m.get(f"/zona/pagos/comprobante/{intent_id}"))
    assert 'id="pse-comprobante"' in receipt and tx["trazability_code"] in receipt
    assert f"BANCO UNIÓN COLOMBIANO: {pages_cop(amount)}" in receipt and 'id="origen-comprobante"' not in receipt
    history = pages.text(m.get("/zona/pagos/historial"))
    assert f"PSE - BANCO UNIÓN COLOMBIANO: {pages_cop(amount)} · CUS {tx['trazability_code']} · Aprobada" in history
    # The receipt e-mail carries the PSE part too.
    from db.payments.receipts import receipt_emails

    with session_scope() as db:
        _subject, mail = receipt_emails(db, [intent_id])[intent_id]
    assert f"Pago PSE desde BANCO UNIÓN COLOMBIANO: {pages_cop(amount)} (CUS {tx['trazability_code']})" in mail
    from tests.support.payments import assert_ledger_balanced

    assert_ledger_balanced()


def pages_cop(amount: Decimal) -> str:
    from domain.money import format_cop

    return format_cop(amount)


# ---------------------------------------------------------------- savings + PSE


def test_savings_plus_pse_writes_both_attempts_and_a_rejection_frees_the_hold(member, sandbox: Sandbox) -> None:  # noqa: ANN001
    m = member()
    amount = amount_of(m.ids.loan, m.ids.member_id)
    before = available(m.ids.member_id)
    verification = m.verification(
        obligations=[("cuota", str(m.ids.loan))],
        funding=[("forma", "multiple"), ("cuentas", str(m.ids.rentadiario)), ("cuentas", "pse"),
                 (f"valor_{m.ids.rentadiario}", "10.000"), ("valor_pse", ""), ("banco", PAGE_BANK),
                 ("tipo_persona", "juridica")])
    assert re.search(r'id="forma-recaudo">Múltiples opciones de pago<', verification)
    assert "Rentadiario RD-1077227777: $10,000.00" in verification
    assert f"PSE - BANCO UNIÓN COLOMBIANO (Persona jurídica): {pages_cop(amount - 10000)}" in verification
    intent_id, location = finish(m, verification)
    from db.engine import session_scope

    with session_scope() as db:
        attempts = db.execute(text("SELECT kind, savings_account_id, amount FROM funding_attempts "
                                   "WHERE intent_id = :i ORDER BY id"), {"i": intent_id}).all()
    assert sorted(tuple(a) for a in attempts) == [("pse", None, amount - Decimal("10000.00")),
                                                  ("savings", m.ids.rentadiario, Decimal("10000.00"))]
    tx = hold_and_send(sandbox, intent_id)
    assert tx["user_type"] == 1
    assert available(m.ids.member_id)[m.ids.rentadiario] == before[m.ids.rentadiario] - Decimal("10000.00")
    assert m.get(location).headers["Location"] == tx["bank_url"]

    back = bank_decides(tx, "rechazar")
    page = pages.text(m.get(local(back)))
    assert 'id="pse-pendiente"' in page  # not decided here until the query answers
    assert query(sandbox, intent_id) == "NOT_AUTHORIZED"
    page = pages.text(m.get(local(back)))
    assert re.search(r'id="pse-estado">Rechazada<', page) and 'id="pse-rechazado"' in page
    assert 'id="reintentar" href="/zona/pagos/"' in page
    assert tx_of(intent_id)["intent_state"] == "rejected"
    assert available(m.ids.member_id) == before  # the hold is released
    with session_scope() as db:
        assert db.execute(text("SELECT count(*) FROM journal_entries WHERE payment_intent_id = :i"),
                          {"i": intent_id}).scalar_one() == 0
    # "Conectando" now words the rejection and offers "Reintentar".
    connecting = pages.text(m.get(location))
    assert "Su pago por PSE no fue realizado" in connecting and 'id="pse-reintentar"' in connecting


def test_the_one_time_code_guards_the_savings_part_only(member, sandbox: Sandbox) -> None:  # noqa: ANN001
    """Above the threshold a code is asked for what leaves the savings here; the PSE part
    is authorised by the member at their bank."""
    m = member(ZONA_PAYMENT_OTP_THRESHOLD_COP="2000")
    pse_only = m.verification(obligations=[("cuota", str(m.ids.aportes))], funding=pse_pairs())
    assert 'id="codigo-seccion"' not in pse_only
    mixed = m.verification(
        obligations=[("cuota", str(m.ids.aportes))],
        funding=[("forma", "multiple"), ("cuentas", str(m.ids.rentadiario)), ("cuentas", "pse"),
                 (f"valor_{m.ids.rentadiario}", "3.000"), ("valor_pse", ""), ("banco", PAGE_BANK),
                 ("tipo_persona", "natural")])
    assert 'id="codigo-seccion"' in mixed
    before = snapshot()
    response = m.post("/zona/pagos/finalizar", pages.finish_pairs(mixed))
    assert response.status_code == 422 and snapshot() == before


def test_transfer_into_own_account_by_pse(member, sandbox: Sandbox) -> None:  # noqa: ANN001
    m = member()
    response = m.post("/zona/pagos/transferencias", [
        ("csrf_token", m.csrf()), ("destino", str(m.ids.rentahorrito)), ("origen", "pse"), ("valor", "50.000"),
        ("banco", "1292"), ("tipo_persona", "natural")])
    assert response.status_code == 303, pages.text(response)[:500]
    # Back from Requisitos, the form shows what was chosen.
    form = pages.text(m.get("/zona/pagos/transferencias"))
    assert re.search(r'value="pse" id="origen-pse"\s+checked', form) and '<option value="1292" selected>' in form
    page = pages.text(m.get("/zona/pagos/verificacion"))
    assert "Depósito a Rentahorrito RH-1077227777: $50,000.00" in page
    assert "PSE - CONFIAR COOPERATIVA FINANCIERA (Persona natural): $50,000.00" in page
    intent_id, location = finish(m, page)
    tx = tx_of(intent_id)
    assert tx["amount"] == Decimal("50000.00") and tx["bank_code"] == "1292"
    # Rejected at the bank, "Reintentar" goes back to Transferencias.
    tx = hold_and_send(sandbox, intent_id)
    back = bank_decides(tx, "rechazar")
    assert query(sandbox, intent_id) == "NOT_AUTHORIZED"
    assert 'id="reintentar" href="/zona/pagos/transferencias"' in pages.text(m.get(local(back)))
    assert 'id="pse-reintentar" href="/zona/pagos/transferencias"' in pages.text(m.get(location))


def test_second_pse_payment_of_a_pending_obligation_gets_the_pendiente_message(member, sandbox: Sandbox) -> None:  # noqa: ANN001
    m = member()
    intent_id, _ = finish(m, m.verification(obligations=[("cuota", str(m.ids.aportes))], funding=pse_pairs()))
    tx = hold_and_send(sandbox, intent_id)
    back = bank_decides(tx, "pendiente")
    assert m.get(local(back)).status_code == 200
    assert query(sandbox, intent_id) == "PENDING"
    before = snapshot()
    token = to_methods(m, m.ids.aportes)
    assert m.post("/zona/pagos/formas-de-pago", [("csrf_token", token)] + pse_pairs("1292")).status_code == 303
    requirements = pages.text(m.get("/zona/pagos/requisitos"))
    assert "PENDIENTE de recibir confirmación por parte de su entidad financiera" in requirements
    assert tx["trazability_code"] in requirements and 'id="requisitos-no-cumple"' in requirements
    assert m.get("/zona/pagos/verificacion").headers["Location"].endswith("/zona/pagos/requisitos")
    assert snapshot() == before


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(("pairs", "status", "message"), [
    (lambda ids: [("forma", "pse"), ("tipo_persona", "natural")], 422,
     "Seleccione la entidad financiera desde la que pagará por PSE"),
    (lambda ids: [("forma", "pse"), ("banco", "0"), ("tipo_persona", "natural")], 422,
     "La entidad financiera elegida no está en la lista de PSE"),
    (lambda ids: [("forma", "pse"), ("banco", "7777"), ("tipo_persona", "natural")], 422,
     "La entidad financiera elegida no está en la lista de PSE"),
    (lambda ids: [("forma", "pse"), ("banco", "1022<script>"), ("tipo_persona", "natural")], 422,
     "La entidad financiera elegida no está en la lista de PSE"),
    (lambda ids: [("forma", "pse"), ("banco", PAGE_BANK)], 422, "Seleccione el tipo de persona"),
    (lambda ids: [("forma", "pse"), ("banco", PAGE_BANK), ("tipo_persona", "2")], 422, "Seleccione el tipo de persona"),
    (lambda ids: [("forma", "multiple"), ("cuentas", "pse"), ("valor_pse", "1.000"), ("banco", PAGE_BANK),
                  ("tipo_persona", "natural")], 422, "Seleccione al menos dos cuentas"),
    (lambda ids: [("forma", "multiple"), ("cuentas", str(ids.rentadiario)), ("cuentas", "pse"),
                  (f"valor_{ids.rentadiario}", "1.000"), ("valor_pse", "1.000"), ("banco", PAGE_BANK),
                  ("tipo_persona", "natural")], 422, "La suma de los valores por cuenta"),
    (lambda ids: [("forma", "multiple"), ("cuentas", str(ids.rentadiario)), ("cuentas", "pse"),
                  (f"valor_{ids.rentadiario}", "1.000"), ("valor_pse", "-5"), ("banco", PAGE_BANK),
                  ("tipo_persona", "natural")], 422, "El valor debe ser mayor que cero"),
    (lambda ids: [("forma", "multiple"), ("cuentas", str(ids.other_account)), ("cuentas", "pse"),
                  ("banco", PAGE_BANK), ("tipo_persona", "natural")], 404,
     "La cuenta seleccionada no existe o no le pertenece"),
])
def test_bad_pse_choices_are_refused_in_spanish(member, sandbox: Sandbox, pairs, status: int,  # noqa: ANN001
                                                message: str) -> None:
    m = member()
    token = to_methods(m, m.ids.aportes)
    before = snapshot()
    response = m.post("/zona/pagos/formas-de-pago", [("csrf_token", token)] + pairs(m.ids))
    assert response.status_code == status and message in pages.text(response), pages.text(response)[:3000]
    assert snapshot() == before
    assert m.get("/zona/pagos/requisitos").status_code == 302


@pytest.mark.parametrize(("pairs", "status", "message"), [
    (lambda ids: [("destino", str(ids.rentahorrito)), ("origen", "pse"), ("valor", "5.000"),
                  ("tipo_persona", "natural")], 422, "Seleccione la entidad financiera"),
    (lambda ids: [("destino", str(ids.rentahorrito)), ("origen", "pse"), ("valor", "5.000"), ("banco", "0"),
                  ("tipo_persona", "natural")], 422, "La entidad financiera elegida no está en la lista de PSE"),
    (lambda ids: [("destino", str(ids.rentahorrito)), ("origen", "pse"), ("valor", "5.000"), ("banco", PAGE_BANK),
                  ("tipo_persona", "empresa")], 422, "Seleccione el tipo de persona"),
    (lambda ids: [("destino", str(ids.rentahorrito)), ("origen", "multiple"), ("valor", "5.000"),
                  ("cuentas", str(ids.rentahorrito)), ("cuentas", "pse"), (f"valor_{ids.rentahorrito}", "1.000"),
                  ("banco", PAGE_BANK), ("tipo_persona", "natural")], 404,
     "La cuenta seleccionada no existe o no le pertenece"),  # the target cannot fund itself
    (lambda ids: [("destino", str(ids.rentahorrito)), ("origen", "multiple"), ("valor", "5.000"),
                  ("cuentas", str(ids.other_account)), ("cuentas", "pse"), ("banco", PAGE_BANK),
                  ("tipo_persona", "natural")], 404, "La cuenta seleccionada no existe o no le pertenece"),
    (lambda ids: [("destino", str(ids.other_account)), ("origen", "pse"), ("valor", "5.000"), ("banco", PAGE_BANK),
                  ("tipo_persona", "natural")], 404, "La cuenta seleccionada no existe o no le pertenece"),
])
def test_bad_pse_transfers_are_refused_in_spanish(member, sandbox: Sandbox, pairs, status: int,  # noqa: ANN001
                                                  message: str) -> None:
    m = member()
    before = snapshot()
    response = m.post("/zona/pagos/transferencias", [("csrf_token", m.csrf())] + pairs(m.ids))
    assert response.status_code == status and message in pages.text(response), pages.text(response)[:3000]
    assert snapshot() == before
    assert m.get("/zona/pagos/requisitos").status_code == 302


@pytest.fixture
def returned(member, sandbox: Sandbox) -> dict[str, Any]:  # noqa: ANN001
    """A PSE payment whose member came back from the bank page, the transaction still
    PENDING at PSE (left pending on the bank page) and in our database."""
    m = member()
    intent_id, location = finish(m, m.verification(obligations=[("cuota", str(m.ids.aportes))], funding=pse_pairs()))
    tx = hold_and_send(sandbox, intent_id)
    back = bank_decides(tx, "pendiente")
    return {"m": m, "intent_id": intent_id, "tx": tx, "back": local(back), "location": location}


def _broker_queries() -> int:
    return sum(1 for task, _ in broker_tasks() if task == "workers.pse_tasks.pse_query")


def test_the_return_asks_for_one_query_and_a_reload_does_not_flood(returned: dict[str, Any],
                                                                     sandbox: Sandbox) -> None:
    m = returned["m"]
    before = snapshot()
    for _ in range(5):
        assert m.get(returned["back"]).status_code == 200
    assert _broker_queries() == 1
    assert snapshot() == before  # the page itself changes nothing
    # Once that query is answered (still PENDING), a later return asks again, once.
    assert query(sandbox, returned["intent_id"]) == "PENDING"
    time.sleep(1.1)
    for _ in range(3):
        assert m.get(returned["back"]).status_code == 200
    assert _broker_queries() == 2


def test_a_query_in_flight_at_the_return_is_followed_by_one_more_once_answered(
        returned: dict[str, Any], sandbox: Sandbox) -> None:
    """The member left the payment pending, came back (a query went out), went to the
    bank again and approved, and returned while that first query was still unanswered:
    its answer may predate the approval, so the page's poll asks once more after it."""
    m = returned["m"]
    json_url = returned["back"].replace("/pse/retorno?", "/pse/retorno.json?")
    assert m.get(returned["back"]).status_code == 200
    assert _broker_queries() == 1
    assert m.get(json_url).status_code == 200
    assert _broker_queries() == 1  # nothing asked again while that query is unanswered
    time.sleep(1.1)
    assert m.get(returned["back"]).status_code == 200  # the second return, query in flight
    assert _broker_queries() == 1
    assert query(sandbox, returned["intent_id"]) == "PENDING"
    for _ in range(3):
        assert m.get(json_url).status_code == 200
    assert _broker_queries() == 2  # once, not per poll


def _lose_broker_messages() -> None:
    from zona_privada.settings import get_settings

    client = redis.Redis.from_url(get_settings().broker_redis_url)
    client.flushdb()
    client.close()


def test_a_query_lost_after_the_return_is_asked_again_while_the_member_waits(
        returned: dict[str, Any], sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    """The query the return asked for never comes back (its message lost, its worker
    killed): the page's poll asks again once it has been unanswered for UNANSWERED_S, not
    before, and stops once an answer is stored."""
    from webapp.payments import queue

    monkeypatch.setattr(queue, "UNANSWERED_S", 1)
    m = returned["m"]
    json_url = returned["back"].replace("/pse/retorno?", "/pse/retorno.json?")
    assert m.get(returned["back"]).status_code == 200
    assert m.get(json_url).status_code == 200
    assert _broker_queries() == 1  # in flight: not asked again
    _lose_broker_messages()  # that query's message is lost
    assert _broker_queries() == 0
    time.sleep(1.2)
    assert m.get(json_url).status_code == 200
    assert _broker_queries() == 1  # unanswered past UNANSWERED_S: asked again
    assert m.get(json_url).status_code == 200
    assert _broker_queries() == 1  # and that one is in flight
    assert query(sandbox, returned["intent_id"]) == "PENDING"  # answered
    time.sleep(1.2)
    for _ in range(3):
        assert m.get(json_url).status_code == 200
    assert _broker_queries() == 1  # the return's own query was answered: nothing more


@pytest.mark.parametrize("forged", [
    "&estado=OK", "&estado=OK&cus=123456", "&transactionState=OK&trazabilityCode=999&valor=1",
    "&ticket_id=1&returnCode=SUCCESS",
])
def test_forged_parameters_on_the_return_change_nothing(returned: dict[str, Any], forged: str) -> None:
    m = returned["m"]
    before = snapshot()
    response = m.get(returned["back"] + forged)
    assert response.status_code == 200
    page = pages.text(response)
    assert re.search(r'id="pse-estado">Pendiente<', page) and "Aprobada" not in page
    assert f'id="pse-cus">{returned["tx"]["trazability_code"]}<' in page and "123456" not in page.split("pse-cus")[1][:40]
    assert snapshot() == before
    assert tx_of(returned["intent_id"])["state"] == "PENDING"


@pytest.mark.parametrize(("query_string", "status", "message"), [
    ("", 400, "El número de la transacción PSE no es válido"),
    ("?ticket=", 400, "El número de la transacción PSE no es válido"),
    ("?ticket=abc", 400, "El número de la transacción PSE no es válido"),
    ("?ticket=-1", 400, "El número de la transacción PSE no es válido"),
    ("?ticket=1%27%20OR%201=1--", 400, "El número de la transacción PSE no es válido"),
    ("?ticket=" + "9" * 21, 400, "El número de la transacción PSE no es válido"),
    ("?ticket=1&ticket=2", 400, "El número de la transacción PSE no es válido"),
    ("?ticket=%EF%BC%91", 400, "El número de la transacción PSE no es válido"),  # fullwidth "1"
    ("?ticket=987654", 404, "La transacción PSE solicitada no existe o no le pertenece"),
])
def test_bad_tickets_are_refused_and_change_nothing(returned: dict[str, Any], query_string: str, status: int,
                                                    message: str) -> None:
    m = returned["m"]
    before = snapshot()
    for path in (f"/zona/pagos/pse/retorno{query_string}", f"/zona/pagos/pse/retorno.json{query_string}"):
        response = m.get(path)
        assert response.status_code == status, (path, pages.text(response)[:300])
        shown = response.get_json()["mensaje"] if ".json" in path else pages.text(response)
        assert message in shown
    assert snapshot() == before
    assert _broker_queries() == 0


def test_another_members_ticket_and_checkout_are_refused(returned: dict[str, Any], make_app, seeded) -> None:  # noqa: ANN001
    """The other demo member (after their first-access steps) asks for this member's ticket
    and "Conectando" page: the same 404 as a ticket that does not exist."""
    from db.engine import session_scope
    from db.payments.intents import PseContext, create_intent

    creds, ids = seeded
    m = returned["m"]
    # A PSE payment of the other member, so both have tickets.
    with session_scope() as db:
        other_intent, _ = create_intent(
            db, member_id=ids.other_member_id, idempotency_key="otro-asociado-pse-1", kind="payment",
            lines=[{"obligation_id": ids.other_obligation, "amount": "1000"}],
            funding=[{"pse": True, "amount": "1000", "bank_code": PAGE_BANK, "user_type": 0}],
            pse=PseContext("198.51.100.4", "http://localhost/zona/pagos/pse/retorno?ticket="))
    other_ticket = tx_of(other_intent)["ticket_id"]
    before = snapshot()
    for path in (f"/zona/pagos/pse/retorno?ticket={other_ticket}", f"/zona/pagos/pse/retorno.json?ticket={other_ticket}"):
        response = m.get(path)
        shown = response.get_json()["mensaje"] if ".json" in path else pages.text(response)
        assert response.status_code == 404 and "no existe o no le pertenece" in shown
        assert "198.51.100.4" not in pages.text(response)
    for path in (f"/zona/pagos/pse/conectando/{other_intent}", f"/zona/pagos/pse/conectando/{other_intent}.json",
                 "/zona/pagos/pse/conectando/99999999", "/zona/pagos/pse/conectando/abc",
                 "/zona/pagos/pse/conectando/99999999999999999999"):
        response = m.get(path)
        assert response.status_code == 404, path
    assert snapshot() == before
    assert _broker_queries() == 0


def test_a_savings_only_intent_has_no_checkout(member, sandbox: Sandbox) -> None:  # noqa: ANN001
    m = member()
    response = m.post("/zona/pagos/finalizar", pages.finish_pairs(m.two_next_items()))
    intent_id = int(response.headers["Location"].rsplit("/", 1)[1])
    assert m.get(f"/zona/pagos/pse/conectando/{intent_id}").status_code == 404


def test_after_the_session_ended_the_login_lands_back_on_the_return_page(returned: dict[str, Any], seeded) -> None:  # noqa: ANN001
    creds, _ids = seeded
    m = returned["m"]
    logout_token = m.csrf()
    assert m.post("/salir", [("csrf_token", logout_token)]).status_code in (302, 303)
    response = m.get(returned["back"])
    assert response.status_code == 302
    login_url = response.headers["Location"]
    assert urllib.parse.parse_qs(urllib.parse.urlsplit(login_url).query)["next"] == [returned["back"]]
    page = pages.text(m.get(local(login_url)))
    token = pages.field(page, "csrf_token")
    assert pages.field(page, "next") == returned["back"]
    assert m.post("/ingresar", [("csrf_token", token), ("next", returned["back"]), ("tipo", "CC"),
                                ("documento", pages.DEMO)]).status_code == 303
    key_page = pages.text(m.get("/ingresar/clave"))
    response = m.post("/ingresar/clave", pages.keyboard_pairs(key_page, creds[pages.DEMO]))
    assert response.status_code == 303 and local(response.headers["Location"]) == returned["back"]
    assert re.search(r'id="pse-estado">Pendiente<', pages.text(m.get(returned["back"])))


@pytest.mark.parametrize("wanted", [
    "https://evil.example/zona/", "//evil.example/zona/", "/\\evil.example", "/zona/\\\\evil", "javascript:alert(1)",
    "/ingresar", "/zona/pagos/\r\nSet-Cookie:x", "/zona/pagos/#x", "/zona/" + "a" * 600,
])
def test_login_ignores_a_next_that_leaves_the_zone(member, seeded, wanted: str) -> None:  # noqa: ANN001
    creds, _ids = seeded
    m = member()
    m.post("/salir", [("csrf_token", m.csrf())])
    page = pages.text(m.get("/ingresar?" + urllib.parse.urlencode({"next": wanted})))
    assert 'name="next"' not in page
    token = pages.field(page, "csrf_token")
    assert m.post("/ingresar", [("csrf_token", token), ("next", wanted), ("tipo", "CC"),
                                ("documento", pages.DEMO)]).status_code == 303
    key_page = pages.text(m.get("/ingresar/clave"))
    response = m.post("/ingresar/clave", pages.keyboard_pairs(key_page, creds[pages.DEMO]))
    assert response.status_code == 303 and response.headers["Location"].endswith("/zona/")
