"""The statement adds up: for every product, opening + movements = closing, the closing
equals the ledger balance the product pages show, and consecutive periods chain; for the
manual's demo member and for random synthetic members."""
from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text

from db.engine import session_scope
from db.ledger import balances
from db.member_summary import savings_overview
from db.models import Member
from db.zone.statement import Statement, build_statement
from domain.bogota_calendar import BOGOTA, add_months, bogota_date
from domain.statement_period import EARLIEST, Period, default_period

pytestmark = pytest.mark.integration


def _check(db, member_id: int, today: date) -> Statement:  # noqa: ANN001
    whole = build_statement(db, member_id, default_period(today), today)
    assert whole.products, "every member has at least aportes and savings"
    ledger = balances(db, [p.product.ledger_account_id for p in whole.products])
    for p in whole.products:
        # Computed independently: the movements' own sum, not the property under test.
        moved = db.execute(text(
            "SELECT COALESCE(SUM(CASE WHEN a.nature = 'debit' THEN l.debit - l.credit ELSE l.credit - l.debit END), 0)"
            " FROM journal_lines l JOIN ledger_accounts a ON a.id = l.ledger_account_id"
            " JOIN journal_entries e ON e.id = l.entry_id"
            " WHERE a.id = :a AND e.posted_at >= :s"), {"a": p.product.ledger_account_id,
                                                         "s": datetime.combine(whole.period.start, datetime.min.time(), BOGOTA)}
        ).scalar_one()
        assert p.opening + sum((m.amount for m in p.movements), Decimal(0)) == p.closing
        assert sum((m.amount for m in p.movements), Decimal(0)) == moved, p.product
        assert p.closing == ledger[p.product.ledger_account_id], p.product
        assert all(m.description for m in p.movements)
    # Split the period in two: the first half's closing is the second half's opening.
    middle = add_months(today, -6)
    first = build_statement(db, member_id, Period(EARLIEST, middle), today)
    second = build_statement(db, member_id, Period(middle + timedelta(days=1), today), today)
    for a, b, w in zip(first.products, second.products, whole.products, strict=True):
        assert a.closing == b.opening and b.closing == w.closing, a.product
    return whole


def test_demo_member_statement_adds_up_and_matches_product_pages(seeded) -> None:  # noqa: ANN001
    _creds, ids = seeded
    today = bogota_date(datetime.now(BOGOTA))
    with session_scope() as db:
        whole = _check(db, ids.member_id, today)
        shown = {s.number: s.balance for s in savings_overview(db, ids.member_id)}
        by_number = {p.product.number: p for p in whole.products}
        for number, balance in shown.items():
            assert by_number[number].closing == balance
        assert by_number["RD-1077227777"].closing == Decimal("1250000.00")
        aportes = by_number["APO-1077227777"]
        assert aportes.overdue == Decimal("3800.00")  # the manual's one month in arrears
        assert [g for g, _ in whole.by_group()] == ["Aportes", "Ahorros", "Créditos"]


def test_random_synthetic_members_statements_add_up(seeded) -> None:  # noqa: ANN001
    from db.bulk_seed import load_synthetic_members

    today = bogota_date(datetime.now(BOGOTA))
    seed = random.randrange(1, 10_000)
    with session_scope() as db:
        before = db.execute(text("SELECT COALESCE(MAX(id), 0) FROM members")).scalar_one()
    load_synthetic_members(6, seed=seed, today=today, progress=lambda _line: None, workers=1)
    with session_scope() as db:
        new = db.execute(select(Member.id).where(Member.id > before)).scalars().all()
        assert len(new) == 6
        for member_id in random.sample(new, 4):
            whole = _check(db, member_id, today)
            assert whole.movement_count > 0, f"seed {seed}: synthetic members have a year of history"


def test_certificate_figures_follow_the_ledger(seeded) -> None:  # noqa: ANN001
    """The tax year's interest is what the installments record as paid; the member with
    no loan and nothing overdue owes nothing, the demo member owes the loan and aportes."""
    from db.models import Installment, Obligation, ObligationKind
    from db.zone.certificates import balances_at, debts, tax_year

    _creds, ids = seeded
    today = bogota_date(datetime.now(BOGOTA))
    with session_scope() as db:
        paid_interest = db.execute(
            select(func.coalesce(func.sum(Installment.paid_interest), 0)).join(Obligation)
            .where(Obligation.member_id == ids.member_id, Obligation.kind == ObligationKind.LOAN)).scalar_one()
        figures = tax_year(db, ids.member_id, today.year, today)
        assert paid_interest > 0 and figures.interest_paid_on_loans == paid_interest
        assert figures.gmf_withheld == 0  # the seed debits no savings account
        assert [p.closing for p in figures.year_end.products] == [
            p.closing for p in balances_at(db, ids.member_id, today, today).products]
        assert tax_year(db, ids.member_id, today.year - 1, today).interest_paid_on_loans == 0
        owed = {d.product.product.group: d.amount for d in debts(balances_at(db, ids.member_id, today, today))}
        assert set(owed) == {"Aportes", "Créditos"} and owed["Aportes"] == Decimal("3800.00")
        assert debts(balances_at(db, ids.other_member_id, today, today)) == []
