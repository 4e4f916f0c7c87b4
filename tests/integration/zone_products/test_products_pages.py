"""Mis productos y servicios (issue 11 §1-2), as the manual's demo member: every sub-tab
with the member's own figures read back from the database, the loan's schedule against
the allocation rows, movements paged by keyset without gaps or repeats, and every bad
input a Spanish 4xx."""
from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select, text

from db.engine import session_scope
from db.ledger import balance
from db.member_summary import savings_overview
from db.models import Allocation, Installment, Obligation, SavingsAccount
from domain.money import format_cop
from tests.integration.web_payments.conftest import make_app, member, seeded, smtp_sink  # noqa: F401
from tests.support.payments import applied_payment

pytestmark = pytest.mark.integration

SUBTABS = ("aportes", "ahorros", "creditos", "cdats", "tarjetas", "otras", "descuentos")
ROW = re.compile(r'data-linea="(\d+)"')


def page_text(response: Any) -> str:
    return response.get_data(as_text=True)


def next_link(body: str) -> str | None:
    match = re.search(r'<a href="([^"]+)" id="pagina-siguiente"', body)
    return match.group(1).replace("&amp;", "&") if match else None


def deposits(account_id: int, count: int, label: str) -> int:
    """`count` deposits of different amounts into the account; returns its ledger account."""
    from db.enrollment import deposit

    with session_scope() as db:
        account = db.get(SavingsAccount, account_id)
        assert account is not None
        for n in range(count):
            deposit(db, account, Decimal(1000 + n), f"{label} {n}")
        return account.ledger_account_id


def test_every_subtab_shows_the_members_own_figures(member, seeded) -> None:  # noqa: ANN001, F811
    _creds, ids = seeded
    m = member()
    pages = {key: m.get(f"/zona/productos/{key}") for key in SUBTABS}
    assert {k: r.status_code for k, r in pages.items()} == dict.fromkeys(SUBTABS, 200)
    home = page_text(m.get("/zona/"))
    assert all(f'href="/zona/productos/{key}"' in home for key in SUBTABS)
    with session_scope() as db:
        obligations = {o.id: o for o in db.execute(select(Obligation).where(Obligation.member_id == ids.member_id))
                       .scalars()}
        ledger = {oid: balance(db, o.ledger_account_id) for oid, o in obligations.items()}
        savings = savings_overview(db, ids.member_id)
    aportes = page_text(pages["aportes"])
    assert "debe pagarse todos los meses para evitar moras" in aportes
    for oid in (ids.aportes, ids.permanente):
        assert obligations[oid].number in aportes and format_cop(ledger[oid]) in aportes
    ahorros = page_text(pages["ahorros"])
    for line in savings:  # the available balance is the payment requirement's
        assert f'id="disponible-{line.savings_account_id}">{format_cop(line.available)}<' in ahorros
    creditos = page_text(pages["creditos"])
    assert obligations[ids.loan].number in creditos and format_cop(ledger[ids.loan]) in creditos
    assert "No tiene CDATs vigentes" in page_text(pages["cdats"])
    descuentos = page_text(pages["descuentos"])
    assert "Medio de pago" in descuentos and "$3,327,104.00" in descuentos


def test_the_loan_schedule_shows_what_each_installment_paid(member, seeded) -> None:  # noqa: ANN001, F811
    _creds, ids = seeded
    applied_payment(ids.member_id, ids.loan, ids.rentadiario)
    body = page_text(member().get(f"/zona/productos/creditos/{ids.loan}"))
    assert "% E.A." in body and "mes vencido" in body
    with session_scope() as db:
        paid_by_allocation = dict(db.execute(
            select(Allocation.installment_id, func.sum(Allocation.principal + Allocation.interest + Allocation.fees
                                                       + Allocation.late_interest))
            .where(Allocation.obligation_id == ids.loan, Allocation.installment_id.is_not(None))
            .group_by(Allocation.installment_id)).all())
        installments = db.execute(select(Installment).where(Installment.obligation_id == ids.loan)
                                  .order_by(Installment.number)).scalars().all()
    assert paid_by_allocation, "the payment allocated nothing to the loan"
    rows = re.findall(r'<tr>\s*<th scope="row">(\d+)</th>(.*?)</tr>', body.split('id="plan-de-pagos"')[1], re.S)
    assert len(rows) == len(installments)
    for (number, cells), inst in zip(rows, installments, strict=True):
        amounts = re.findall(r'<td class="num">([^<]+)</td>', cells)
        assert int(number) == inst.number
        assert amounts[-2] == format_cop(inst.paid) and amounts[-1] == format_cop(inst.outstanding)
        if inst.id in paid_by_allocation:  # unpaid before this payment: all it shows paid is its allocation
            assert amounts[-2] == format_cop(paid_by_allocation[inst.id])


def test_movements_page_by_keyset_without_gaps_or_repeats(member, seeded) -> None:  # noqa: ANN001, F811
    _creds, ids = seeded
    ledger_account_id = deposits(ids.rentahorrito, 45, "Consignación de prueba")
    with session_scope() as db:
        expected = [r[0] for r in db.execute(text(
            "SELECT l.id FROM journal_lines l JOIN journal_entries e ON e.id = l.entry_id "
            "WHERE l.ledger_account_id = :a ORDER BY e.posted_at DESC, l.id DESC"),
            {"a": ledger_account_id})]
    m = member()
    url: str | None = f"/zona/productos/ahorros/{ids.rentahorrito}/movimientos"
    seen: list[int] = []
    pages = 0
    while url:
        response = m.get(url)
        assert response.status_code == 200, page_text(response)[:300]
        body = page_text(response)
        seen += [int(x) for x in ROW.findall(body)]
        url = next_link(body)
        pages += 1
    assert seen == expected and pages == -(-len(expected) // 20)
    assert "Consignación de prueba 44" in page_text(m.get(f"/zona/productos/ahorros/{ids.rentahorrito}/movimientos"))
    credits = page_text(m.get(f"/zona/productos/ahorros/{ids.rentahorrito}/movimientos?tipo_movimiento=cargos"))
    assert "Consignación de prueba" not in credits  # deposits raise the balance: abonos, not cargos


def test_a_payments_movement_links_its_receipt(member, seeded) -> None:  # noqa: ANN001, F811
    _creds, ids = seeded
    intent_id = applied_payment(ids.member_id, ids.loan, ids.rentadiario)
    body = page_text(member().get(f"/zona/productos/ahorros/{ids.rentadiario}/movimientos"))
    assert f'href="/zona/pagos/comprobante/{intent_id}"' in body


@pytest.mark.parametrize(("query", "message"), [
    ("?desde=2026-12-01&hasta=2026-01-01", "La fecha inicial debe ser anterior"),
    ("?desde=ayer", "no es válida"),
    ("?desde=1999-01-01", "Las fechas deben estar entre"),
    ("?tipo_movimiento=todo", "El tipo de movimiento no es válido"),
    ("?cursor=abc.def", "no es válida; vuelve a la primera página"),
])
def test_bad_movement_queries_are_spanish_400s(member, seeded, query: str, message: str) -> None:  # noqa: ANN001, F811
    _creds, ids = seeded
    response = member().get(f"/zona/productos/ahorros/{ids.rentadiario}/movimientos{query}")
    assert response.status_code == 400 and message in page_text(response)


def test_a_cursor_is_bound_to_its_product(member, seeded) -> None:  # noqa: ANN001, F811
    _creds, ids = seeded
    deposits(ids.rentahorrito, 25, "Abono")
    m = member()
    cursor_url = next_link(page_text(m.get(f"/zona/productos/ahorros/{ids.rentahorrito}/movimientos")))
    assert cursor_url
    cursor = re.search(r"cursor=([^&]+)", cursor_url).group(1)  # type: ignore[union-attr]
    other = m.get(f"/zona/productos/ahorros/{ids.rentadiario}/movimientos?cursor={cursor}")
    assert other.status_code == 400 and "vuelve a la primera página" in page_text(other)
    tampered = m.get(cursor_url.replace(cursor, cursor[:-2] + ("A" if cursor[-2] != "A" else "B") + cursor[-1]))
    assert tampered.status_code == 400


def test_unknown_sections_kinds_and_foreign_ids_are_404(member, seeded) -> None:  # noqa: ANN001, F811
    _creds, ids = seeded
    m = member()
    for path in ("/zona/productos/inversiones", f"/zona/productos/bonos/{ids.rentadiario}/movimientos",
                 f"/zona/productos/ahorros/{ids.other_account}/movimientos",
                 f"/zona/productos/obligaciones/{ids.other_obligation}/movimientos",
                 f"/zona/productos/creditos/{ids.aportes}", "/zona/productos/ahorros/99999999/movimientos",
                 "/zona/productos/ahorros/99999999999999999999/movimientos"):
        assert m.get(path).status_code == 404, path


def test_without_a_session_every_products_page_sends_to_login(make_app, seeded) -> None:  # noqa: ANN001, F811
    _creds, ids = seeded
    client = make_app().test_client()
    for path in ("/zona/productos/aportes", f"/zona/productos/creditos/{ids.loan}",
                 f"/zona/productos/ahorros/{ids.rentadiario}/movimientos"):
        response = client.get(path)
        assert response.status_code == 302 and "/ingresar" in response.headers["Location"], path
    with session_scope() as db:
        assert db.execute(select(func.count()).select_from(Obligation)).scalar_one() > 0
