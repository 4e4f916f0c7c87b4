"""Dues keep coming: a beat job bills each member's next aportes and ahorro permanente,
once per period, so "Próximo vencimiento" never goes blank."""
from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from sqlalchemy import select, text

from db.dues import generate_monthly_dues
from db.engine import session_scope
from db.member_summary import obligations_overview
from db.models import Installment
from db.payments.intents import create_intent
from db.payments.processing import Outcome, apply_intent
from domain.bogota_calendar import add_months
from tests.support.payments import assert_ledger_balanced, new_key

pytestmark = pytest.mark.integration

A_MONTH_LATER = date(2026, 2, 20)  # the demo is seeded on 20 Jan 2026 (conftest)


def dues(obligation_id: int) -> list[tuple[int, date, date | None, Decimal]]:
    with session_scope() as session:
        return [tuple(r) for r in session.execute(
            select(Installment.number, Installment.due_date, Installment.period, Installment.principal)
            .where(Installment.obligation_id == obligation_id).order_by(Installment.number)).all()]


def dues_obligations() -> int:
    with session_scope() as session:
        return session.execute(text(
            "SELECT count(*) FROM obligations WHERE kind IN ('aportes', 'ahorro_permanente')")).scalar_one()


def generate(day: date) -> int:
    with session_scope() as session:
        return generate_monthly_dues(session, day)


def test_a_month_later_the_demo_member_owes_the_next_dues_once(demo_on) -> None:  # noqa: ANN001
    before = {ob: dues(ob) for ob in (demo_on.aportes_id, demo_on.permanente_id)}
    # Seeded through 20 Feb: the last installment billed is due 5 Feb 2026.
    assert {ob: rows[-1][1] for ob, rows in before.items()} == {ob: date(2026, 2, 5) for ob in before}

    assert dues_obligations() == 4  # both demo members: aportes and ahorro permanente
    assert generate(A_MONTH_LATER) == 4  # one more month each
    for ob, rows in before.items():
        after = dues(ob)
        number, due, period, principal = after[-1]
        assert after[:-1] == rows
        assert (number, due, period) == (rows[-1][0] + 1, date(2026, 3, 5), date(2026, 3, 1))
        assert principal == rows[-1][3]  # the product's monthly due
    # Run twice: one set.
    assert generate(A_MONTH_LATER) == 0
    assert {ob: len(dues(ob)) for ob in before} == {ob: len(rows) + 1 for ob, rows in before.items()}

    # The unique key holds even against a writer that forgets to look first.
    with session_scope() as session:
        clash = session.execute(text(
            "INSERT INTO installments (obligation_id, number, due_date, period, principal)"
            " VALUES (:o, 999, '2026-03-20', '2026-03-01', 1) ON CONFLICT DO NOTHING RETURNING id"),
            {"o": demo_on.aportes_id}).all()
    assert clash == []


def test_proximo_vencimiento_is_shown_after_everything_due_is_paid(demo_on) -> None:  # noqa: ANN001
    """Pay every aportes installment due by 20 Feb; the next one (5 Mar) is the next due."""
    generate(A_MONTH_LATER)
    with session_scope() as session:
        owed = sum((i.outstanding for i in session.execute(select(Installment).where(
            Installment.obligation_id == demo_on.aportes_id, Installment.due_date <= A_MONTH_LATER)).scalars()),
            Decimal(0))
        intent_id, _ = create_intent(
            session, member_id=demo_on.member_id, idempotency_key=new_key(), kind="payment",
            lines=[{"obligation_id": demo_on.aportes_id, "amount": owed}],
            funding=[{"savings_account_id": demo_on.rentadiario_id, "amount": owed}], today=A_MONTH_LATER)
    with session_scope() as session:
        assert apply_intent(session, intent_id, now=datetime(2026, 2, 20, 15, tzinfo=timezone.utc)).outcome \
            is Outcome.APPLIED
    with session_scope() as session:
        line = {o.obligation_id: o for o in obligations_overview(session, demo_on.member_id, A_MONTH_LATER)}[
            demo_on.aportes_id]
    assert line.overdue == 0 and line.next_due_date == date(2026, 3, 5)
    assert_ledger_balanced()


def test_billing_follows_the_calendar_month_by_month(demo_on) -> None:  # noqa: ANN001
    """Skipped runs catch up: three months later, three more months billed, each month once."""
    later = add_months(demo_on.seeded_on, 3)
    assert generate(later) == dues_obligations() * 3
    periods = [p for _, _, p, _ in dues(demo_on.permanente_id)]
    assert len(periods) == len(set(periods)) and periods[-1] == date(2026, 5, 1)
