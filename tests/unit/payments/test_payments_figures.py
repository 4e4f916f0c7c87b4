"""One definition of an installment's components and of the available balance (issue 9
item 3): the hot path's spelled-out sums agree with ALLOCATION_ORDER, in Python and SQL."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

from db.models import Installment
from db.payments.snapshots import InstallmentRow
from domain.allocation import ALLOCATION_ORDER, PAID_PREFIX, AllocationRow
from domain.balances import available_balance
from domain.requirements import AccountFacts

D = Decimal


def test_installment_figures_cover_every_component() -> None:
    # Distinct powers of ten: a component left out or counted twice changes the sum.
    billed = {c.value: D(10) ** (i + 1) for i, c in enumerate(ALLOCATION_ORDER)}
    paid = {PAID_PREFIX + c.value: D(10) ** (i + 1) / 10 for i, c in enumerate(ALLOCATION_ORDER)}
    row = InstallmentRow(id=1, number=1, due_date=date(2026, 12, 5), **billed, **paid)
    assert row.total == sum(billed.values()) and row.paid == sum(paid.values())
    due = row.as_due()
    assert all(due.owed(c) == billed[c.value] - paid[PAID_PREFIX + c.value] for c in ALLOCATION_ORDER)
    sql = str(Installment.total_expr()) + " " + str(Installment.paid_total_expr())
    for c in ALLOCATION_ORDER:
        assert f"installments.{c.value}" in sql and f"installments.{PAID_PREFIX}{c.value}" in sql
    assert AllocationRow(1, **{c.value: D(1) for c in ALLOCATION_ORDER}).total == len(ALLOCATION_ORDER)


def test_available_balance_is_one_definition() -> None:
    assert available_balance(D("50000"), D("5000"), D("10000")) == D("35000")
    assert available_balance(D("9000"), D("0"), D("10000")) == D("0.00")  # under the minimum: nothing, not a debt
    facts = AccountFacts(account_id=1, label="x", status="active", balance=D("50000"), held=D("5000"),
                         minimum_balance=D("10000"), gmf_exempt=True, debit=D("1"))
    assert facts.available == available_balance(facts.balance, facts.held, facts.minimum_balance)
