"""The wizard end to end through the Flask app, with the real worker step run in this
process (the e2e test runs it in a real Celery worker): what each step shows, the manual's
wording, the status JSON, the receipt and the history."""
from __future__ import annotations

import re
from decimal import Decimal

from tests.integration.web_payments import pages
from tests.integration.web_payments.db_checks import counts, intents
from tests.support.payments import assert_ledger_balanced


def _apply(intent_id: int) -> None:
    from workers.payment_tasks import apply_intent

    apply_intent.apply(args=[intent_id]).get()


def test_pay_two_next_items_shows_manual_wording_and_applies(member) -> None:  # noqa: ANN001
    m = member()
    start = pages.text(m.get("/zona/pagos/"))
    assert "Pagar obligaciones vencidas por ventanilla" in start and "Pago de obligaciones individualmente" in start
    token = m.csrf()
    assert m.post("/zona/pagos/", [("csrf_token", token), ("tipo", "individual")]).status_code == 303
    table = pages.text(m.get("/zona/pagos/obligaciones"))
    assert "Recuerde que su aporte social lo compone los ahorros permanentes y los aportes sociales" in table
    assert "$3,800.00" in table and "$34,200.00" in table and "Otro Valor" in table
    page = m.two_next_items()
    assert re.search(r'id="total-a-pagar-hoy">\$38,000\.00<', page)
    assert "Anterior" in page and "Finalizar" in page and "Rentadiario RD-1077227777" in page

    response = m.post("/zona/pagos/finalizar", pages.finish_pairs(page))
    assert response.status_code == 303
    status_url = response.headers["Location"]
    [(intent_id, state, _key)] = intents()
    assert status_url.endswith(f"/zona/pagos/estado/{intent_id}") and state == "created"
    body = pages.text(m.get(status_url))
    assert "Por este medio verás tu pago aplicado en un máximo de media hora" in body
    # The stage's label, as the stage bar writes it, not the internal name ("recibido").
    assert re.search(r'id="etapa">Recibido<', body), body
    polled = m.get(f"/zona/pagos/estado/{intent_id}.json", headers={"Accept": "application/json"}).get_json()
    assert polled["etapa"] == "recibido" and 1790 <= polled["promesa_segundos"] <= 1800

    _apply(intent_id)
    polled = m.get(f"/zona/pagos/estado/{intent_id}.json").get_json()
    assert polled["etapa"] == "aplicado" and polled["terminal"] and polled["comprobante_url"]
    assert polled["etapa_texto"] == "Aplicado"
    assert re.search(r'id="etapa">Aplicado<', pages.text(m.get(status_url)))
    receipt = pages.text(m.get(polled["comprobante_url"]))
    assert re.search(r'id="numero-comprobante">\d{10}<', receipt)
    assert re.search(r"Cuota \d+", receipt) and "$38,000.00" in receipt
    from db.engine import session_scope
    from db.payments.intents import allocation_rows
    from domain.money import format_cop
    from decimal import Decimal

    with session_scope() as db:
        rows = allocation_rows(db, intent_id)
    assert rows and all(format_cop(Decimal(r["principal"])) in receipt for r in rows)
    history = pages.text(m.get("/zona/pagos/historial"))
    assert "Aplicado" in history and "Aportes sociales APO-1077227777" in history
    assert_ledger_balanced()
    assert counts()["journal_entries"] > 0


def test_transfer_goes_through_the_same_pipeline(member) -> None:  # noqa: ANN001
    from db.engine import session_scope
    from db.member_summary import savings_overview
    from decimal import Decimal

    m = member()
    def balances() -> dict[int, Decimal]:
        with session_scope() as db:
            return {s.savings_account_id: s.balance for s in savings_overview(db, m.ids.member_id)}

    before = balances()
    response = m.post("/zona/pagos/transferencias", [
        ("csrf_token", m.csrf()), ("destino", str(m.ids.rentahorrito)), ("origen", str(m.ids.rentadiario)),
        ("valor", "150.000")])
    assert response.status_code == 303 and response.headers["Location"].endswith("/zona/pagos/requisitos")
    assert "Cumple" in pages.text(m.get("/zona/pagos/requisitos"))
    page = pages.text(m.get("/zona/pagos/verificacion"))
    assert "Depósito a Rentahorrito RH-1077227777: $150,000.00" in page
    response = m.post("/zona/pagos/finalizar", pages.finish_pairs(page))
    [(intent_id, _state, _key)] = intents()
    assert response.headers["Location"].endswith(f"/estado/{intent_id}")
    _apply(intent_id)
    after = balances()
    assert after[m.ids.rentadiario] == before[m.ids.rentadiario] - Decimal("150000.00")  # Rentadiario: GMF-exempt
    assert after[m.ids.rentahorrito] == before[m.ids.rentahorrito] + Decimal("150000.00")
    receipt = pages.text(m.get(f"/zona/pagos/comprobante/{intent_id}"))
    assert "Comprobante de transferencia" in receipt and "Depósito a Rentahorrito RH-1077227777" in receipt
    assert_ledger_balanced()


def test_formas_de_pago_says_the_available_balance_keeps_the_minimum(member) -> None:  # noqa: ANN001
    """"Formas de Pago" showed an available balance $10,000 below the balance without
    saying why: the balance, the available amount and the minimum balance are all shown."""
    m = member()
    token = m.csrf()
    assert m.post("/zona/pagos/", [("csrf_token", token), ("tipo", "individual")]).status_code == 303
    assert m.post("/zona/pagos/obligaciones", [("csrf_token", token), ("cuota", str(m.ids.aportes))]).status_code == 303
    page = pages.text(m.get("/zona/pagos/formas-de-pago"))
    shown = re.search(r'saldo <span class="num">(\$[\d,.]+)</span>,\s*disponible <span class="num" '
                      rf'id="disponible-{m.ids.rentadiario}">(\$[\d,.]+)</span>', page)
    assert shown, page
    balance, available = (Decimal(x.strip("$").replace(",", "")) for x in shown.groups())
    assert balance - available == Decimal("10000.00")
    assert f'id="minimo-{m.ids.rentadiario}">(saldo menos el saldo mínimo de $10,000.00' in page
