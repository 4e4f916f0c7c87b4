"""Late interest accrues daily on overdue loan principal, capped by each day's
certified usury rate, posted once per installment and day, and paid first."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, localcontext

import pytest
from sqlalchemy import select, text

from db import chart
from db.accruals import accrue_late_interest
from db.engine import session_scope
from db.ledger import balance
from db.member_summary import obligations_overview
from db.models import Installment, LateInterestAccrual
from db.payments.intents import build_request, create_intent, preview_allocation
from db.payments.processing import Outcome, apply_intent
from db.usury import usury_table
from domain.rates import daily_rate
from tests.support.payments import assert_ledger_balanced, new_key

pytestmark = pytest.mark.integration

LATE_EA = Decimal("0.22")  # ZONA_LATE_INTEREST_EA's default, the demo loan's agreed late rate
# The installments due 10 Feb and 10 Mar 2026 are unpaid on this (simulated) day: the
# first one's delay spans the February and March certifications.
ACCRUAL_DAY = date(2026, 3, 16)


def accrue(day: date) -> None:
    with session_scope() as session:
        accrue_late_interest(session, day, late_ea=LATE_EA)


def installments(obligation_id: int) -> list[Installment]:
    with session_scope() as session:
        rows = session.execute(select(Installment).where(Installment.obligation_id == obligation_id)
                               .order_by(Installment.number)).scalars().all()
        session.expunge_all()
        return list(rows)


def counts() -> tuple[int, int]:
    with session_scope() as session:
        return (session.execute(text("SELECT count(*) FROM late_interest_accruals")).scalar_one(),
                session.execute(text("SELECT count(*) FROM journal_entries WHERE kind = 'late_interest'")).scalar_one())


def cap_allowance(principal: Decimal, first: date, last: date) -> Decimal:
    """What the usury caps allow for those days: each day at its own period's cap."""
    with session_scope() as session:
        caps = usury_table(session, first, last)
    total, day = Decimal(0), first
    with localcontext() as ctx:
        ctx.prec = 34
        while day <= last:
            cap = next(c.ea for c in caps if c.valid_from <= day <= c.valid_to)
            total += principal * daily_rate(cap)
            day += timedelta(days=1)
    return total


def test_demo_overdue_installments_carry_capped_simple_late_interest(demo_on) -> None:  # noqa: ANN001
    accrue(ACCRUAL_DAY)
    loan = installments(demo_on.loan_id)
    overdue = [i for i in loan if i.due_date < ACCRUAL_DAY and i.paid_principal < i.principal]
    assert [i.due_date for i in overdue] == [date(2026, 2, 10), date(2026, 3, 10)]
    for inst in overdue:
        days = (ACCRUAL_DAY - inst.due_date).days
        with localcontext() as ctx:
            ctx.prec = 34
            simple = inst.principal * days * daily_rate(LATE_EA)  # 22 % is under every cap here
        assert inst.late_interest == simple.quantize(Decimal("0.01")) > 0
        assert inst.late_interest <= cap_allowance(inst.principal, inst.due_date + timedelta(days=1), ACCRUAL_DAY)
    assert all(i.late_interest == 0 for i in loan if i not in overdue)
    # Dues carry no late interest, overdue or not.
    assert all(i.late_interest == 0 for i in installments(demo_on.aportes_id) + installments(demo_on.permanente_id))

    with session_scope() as session:
        accrued = sum((i.late_interest for i in overdue), Decimal(0))
        assert balance(session, chart.coop_account_id(session, "late_interest_receivable")) == accrued
        assert balance(session, chart.coop_account_id(session, "late_interest_income")) == accrued
        # "Obligaciones" shows it inside the overdue value.
        line = {o.obligation_id: o for o in obligations_overview(session, demo_on.member_id, ACCRUAL_DAY)}[demo_on.loan_id]
        assert line.overdue == sum((i.outstanding for i in overdue), Decimal(0))
    assert_ledger_balanced()


def test_running_twice_the_same_day_posts_once(demo_on) -> None:  # noqa: ANN001
    accrue(ACCRUAL_DAY)
    first = counts()
    late_before = [i.late_interest for i in installments(demo_on.loan_id)]
    accrue(ACCRUAL_DAY)
    assert counts() == first == (2, 2)
    assert [i.late_interest for i in installments(demo_on.loan_id)] == late_before
    # The next day charges one more day, once.
    accrue(ACCRUAL_DAY + timedelta(days=1))
    assert counts() == (4, 4)
    with session_scope() as session:
        days = session.execute(select(LateInterestAccrual.days).order_by(LateInterestAccrual.id)).scalars().all()
    assert days[2:] == [1, 1]
    assert_ledger_balanced()


def test_days_without_a_certified_rate_wait_for_the_certification(demo_on) -> None:  # noqa: ANN001
    """April 2026 is not confirmed in the data: days after 31 March are not charged until
    a certification for them is loaded."""
    with session_scope() as session:
        run = accrue_late_interest(session, date(2026, 4, 5), late_ea=LATE_EA)
    assert run.uncertified_from == date(2026, 4, 1)
    with session_scope() as session:
        through = session.execute(text("SELECT DISTINCT accrued_through FROM late_interest_accruals")).scalars().all()
    assert through == [date(2026, 3, 31)]


def test_the_next_payment_pays_late_interest_first(demo_on) -> None:  # noqa: ANN001
    accrue(ACCRUAL_DAY)
    oldest = installments(demo_on.loan_id)[[i.due_date for i in installments(demo_on.loan_id)].index(date(2026, 2, 10))]
    amount = oldest.late_interest + Decimal("1000")
    lines = [{"obligation_id": demo_on.loan_id, "amount": amount}]
    funding = [{"savings_account_id": demo_on.rentadiario_id, "amount": amount}]
    with session_scope() as session:
        preview = preview_allocation(session, demo_on.member_id,
                                     build_request(kind="payment", lines=lines, funding=funding), today=ACCRUAL_DAY)
    shown = preview["lines"][0]["allocation"][0]
    assert Decimal(shown["late_interest"]) == oldest.late_interest  # Verificación shows "Interés de mora"
    with session_scope() as session:
        intent_id, _ = create_intent(session, member_id=demo_on.member_id, idempotency_key=new_key(), kind="payment",
                                     lines=lines, funding=funding, today=ACCRUAL_DAY)
    with session_scope() as session:
        result = apply_intent(session, intent_id, now=datetime(2026, 3, 16, 15, 0, tzinfo=timezone.utc))
    assert result.outcome is Outcome.APPLIED
    with session_scope() as session:
        rows = session.execute(text(
            "SELECT installment_id, late_interest, fees + interest + principal FROM allocations"
            " WHERE intent_id = :i ORDER BY id"), {"i": intent_id}).all()
        assert rows == [(oldest.id, oldest.late_interest, Decimal("1000.00"))]
        paid = session.get(Installment, oldest.id)
        assert paid.paid_late_interest == paid.late_interest
        # The receivable is settled by the payment; income was recognised once, when accrued.
        receivable = balance(session, chart.coop_account_id(session, "late_interest_receivable"))
        income = balance(session, chart.coop_account_id(session, "late_interest_income"))
        assert receivable == income - oldest.late_interest
    assert_ledger_balanced()


def test_the_beat_task_is_idempotent_per_day(demo_on) -> None:  # noqa: ANN001
    from workers.ledger_tasks import accrue_late_interest_task, generate_monthly_dues_task

    first = accrue_late_interest_task.run(today=ACCRUAL_DAY.isoformat())
    again = accrue_late_interest_task.run(today=ACCRUAL_DAY.isoformat())
    assert (first["installments"], again["installments"]) == (2, 0) and again["amount"] == "0"
    assert counts() == (2, 2)
    assert generate_monthly_dues_task.run(today=ACCRUAL_DAY.isoformat())["installments"] > 0
    assert generate_monthly_dues_task.run(today=ACCRUAL_DAY.isoformat())["installments"] == 0
    assert_ledger_balanced()
