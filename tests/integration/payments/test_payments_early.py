"""Early payment is not future interest (Ley 1555 de 2012), through create + apply.

The reproduction from issue 9: on 02/12/2026 a member paid loan installments 9 to 12
(installment 12 due 10/03/2027), one "cuota" after another, and was charged the full
scheduled interest of every one of them, for periods that had not begun.
"""
from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from sqlalchemy import select

from db.engine import session_scope
from db.enrollment import collect_from_payroll, disburse_loan
from db.ledger import balance
from db.models import Allocation, Installment, Member, Obligation, SavingsAccount
from db.payments.intents import create_intent
from db.payments.processing import Outcome, apply_intent
from domain.amortization import principal_for_installment
from domain.bogota_calendar import add_months

from tests.support.payments import assert_applied_exactly_once, assert_ledger_balanced, new_key

pytestmark = pytest.mark.integration

TODAY = date(2026, 12, 2)
NOW = datetime(2026, 12, 2, 15, 0, tzinfo=timezone.utc)  # 10:00 in Bogotá
EA = Decimal("0.1450")
INSTALLMENT = Decimal("34200")
DISBURSED = date(2026, 3, 10)  # installment 1 due 10/04/2026, 9 due 10/12/2026, 12 due 10/03/2027


def open_loan(demo) -> int:  # noqa: ANN001
    """The demo member's loan as the reproduction had it: 8 installments paid by payroll."""
    with session_scope() as session:
        member = session.get(Member, demo.member_id)
        rentadiario = session.get(SavingsAccount, demo.rentadiario_id)
        loan = disburse_loan(
            session, member, number="CRE-EARLY-1", product_name="Crédito de consumo libranza",
            amount=principal_for_installment(INSTALLMENT, EA, 36), ea_rate=EA, late_ea_rate=Decimal("0.22"),
            term_months=36, disbursement_date=DISBURSED, first_due=add_months(DISBURSED, 1), into=rentadiario,
        )
        for installment in loan.installments:
            if installment.due_date <= TODAY:
                collect_from_payroll(session, loan, installment)
        session.flush()
        return loan.id


def installments(loan_id: int) -> dict[int, Installment]:
    with session_scope() as session:
        rows = session.execute(select(Installment).where(Installment.obligation_id == loan_id)).scalars().all()
        session.expunge_all()
        return {i.number: i for i in rows}


def pay(demo, loan_id: int, amount: Decimal, mode: str = "reduce_term") -> int:  # noqa: ANN001
    with session_scope() as session:
        intent_id, _ = create_intent(
            session, member_id=demo.member_id, idempotency_key=new_key(), kind="payment",
            lines=[{"obligation_id": loan_id, "amount": amount, "prepayment_mode": mode}],
            funding=[{"savings_account_id": demo.rentadiario_id, "amount": amount}], today=TODAY,
        )
    with session_scope() as session:
        assert apply_intent(session, intent_id, now=NOW).outcome is Outcome.APPLIED
    return intent_id


def receivable(loan_id: int) -> Decimal:
    with session_scope() as session:
        return balance(session, session.get(Obligation, loan_id).ledger_account_id)


def test_paying_installments_9_to_12_months_early_charges_no_interest_for_periods_not_begun(demo) -> None:  # noqa: ANN001
    loan_id = open_loan(demo)
    before = installments(loan_id)
    assert [n for n, i in before.items() if i.outstanding == 0] == list(range(1, 9))
    assert before[12].due_date == date(2027, 3, 10) and before[12].interest > 0
    ninth = before[9]
    receivable_before = receivable(loan_id)

    # Installments 9, 10, 11 and 12, each at its scheduled value, as the member did.
    intent_ids = [pay(demo, loan_id, before[n].total) for n in (9, 10, 11, 12)]
    paid = sum((before[n].total for n in (9, 10, 11, 12)), Decimal(0))

    with session_scope() as session:
        rows = session.execute(select(Allocation).where(Allocation.intent_id.in_(intent_ids))).scalars().all()
        by_installment = {r.installment_id: r for r in rows if r.installment_id is not None}
        interest_charged = sum((r.interest for r in rows), Decimal(0))
    # Only installment 9's period (10/11/2026 → 10/12/2026) has begun: 22 of its 30 days.
    assert set(by_installment) <= {ninth.id}
    assert interest_charged == (ninth.interest * 22 / 30).quantize(Decimal(1), rounding="ROUND_HALF_UP")
    assert interest_charged < ninth.interest  # not even the whole of the period under way

    # Everything else went to principal, and the ledger says so.
    assert receivable_before - receivable(loan_id) == paid - interest_charged
    after = installments(loan_id)
    assert sum((i.principal - i.paid_principal for i in after.values()), Decimal(0)) == receivable(loan_id)
    # Reduce term: the same installment, fewer of them; each whole pesos.
    assert len(after) < len(before)
    assert all(i.principal == i.principal.to_integral_value() for i in after.values())
    # Installment 9 now bills what accrued to today plus what the smaller balance accrues
    # until 10/12/2026, nothing of which was owed today.
    assert after[9].paid_principal == after[9].principal and after[9].paid_interest == interest_charged
    assert interest_charged < after[9].interest < ninth.interest
    assert_applied_exactly_once(intent_ids)
    assert_ledger_balanced()


def test_installment_paid_on_its_due_date_owes_all_its_interest(demo) -> None:  # noqa: ANN001
    """The other side of the rule: a period that has ended owes all of its interest."""
    loan_id = open_loan(demo)
    ninth = installments(loan_id)[9]
    with session_scope() as session:
        intent_id, _ = create_intent(
            session, member_id=demo.member_id, idempotency_key=new_key(), kind="payment",
            lines=[{"obligation_id": loan_id, "amount": ninth.total}],
            funding=[{"savings_account_id": demo.rentadiario_id, "amount": ninth.total}], today=ninth.due_date,
        )
    due_day = datetime(2026, 12, 10, 15, 0, tzinfo=timezone.utc)
    with session_scope() as session:
        assert apply_intent(session, intent_id, now=due_day).outcome is Outcome.APPLIED
    with session_scope() as session:
        (row,) = session.execute(select(Allocation).where(Allocation.intent_id == intent_id)).scalars().all()
        assert (row.installment_id, row.interest, row.principal) == (ninth.id, ninth.interest, ninth.principal)
    assert installments(loan_id)[9].outstanding == 0
    assert_ledger_balanced()
