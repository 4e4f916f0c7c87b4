from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.allocation import (
    ALLOCATION_ORDER,
    Allocation,
    AllocationRow,
    Component,
    InstallmentDue,
    allocate,
)

D = Decimal


def _due(
    installment_id: int, number: int, due: date, late: str, fees: str, interest: str, principal: str
) -> InstallmentDue:
    return InstallmentDue(installment_id, number, due, D(late), D(fees), D(interest), D(principal))


OVERDUE = _due(11, 1, date(2025, 1, 31), "120.50", "3800", "30000", "350000")
CURRENT = _due(12, 2, date(2025, 2, 28), "0", "3800", "26500", "353500")


def test_allocation_order_is_fineracts() -> None:
    assert ALLOCATION_ORDER == (
        Component.LATE_INTEREST,
        Component.FEES,
        Component.INTEREST,
        Component.PRINCIPAL,
    )
    assert [c.value for c in ALLOCATION_ORDER] == ["late_interest", "fees", "interest", "principal"]


def test_installment_due_total() -> None:
    assert OVERDUE.total == D("383920.50")


def test_partial_payment_covers_oldest_installment_in_order() -> None:
    result = allocate(D("20000"), [CURRENT, OVERDUE])  # given out of order on purpose
    assert result == Allocation(
        rows=(AllocationRow(11, D("120.50"), D("3800"), D("16079.50"), D("0")),),
        prepayment=D("0"),
    )
    assert result.total == D("20000")


def test_payment_spills_into_next_installment() -> None:
    result = allocate(D("390000"), [OVERDUE, CURRENT])
    assert [row.installment_id for row in result.rows] == [11, 12]
    assert result.rows[0].total == OVERDUE.total
    assert result.rows[1] == AllocationRow(12, D("0"), D("3800"), D("2279.50"), D("0"))
    assert result.prepayment == 0


def test_otro_valor_beyond_everything_owed_prepays_principal() -> None:
    result = allocate(D("1000000"), [OVERDUE, CURRENT])
    assert result.prepayment == D("1000000") - OVERDUE.total - CURRENT.total
    assert result.total == D("1000000")


def test_no_dues_means_all_prepayment() -> None:
    assert allocate(D("5000"), []) == Allocation(rows=(), prepayment=D("5000"))


def test_fully_paid_installments_get_no_row() -> None:
    paid = _due(10, 0, date(2024, 12, 31), "0", "0", "0", "0")
    result = allocate(D("100"), [paid, OVERDUE])
    assert [row.installment_id for row in result.rows] == [11]


def test_same_due_date_orders_by_number() -> None:
    a = _due(1, 2, date(2025, 1, 31), "0", "0", "0", "100")
    b = _due(2, 1, date(2025, 1, 31), "0", "0", "0", "100")
    assert [row.installment_id for row in allocate(D("150"), [a, b]).rows] == [2, 1]


@pytest.mark.parametrize("amount", ["0", "-1"])
def test_non_positive_amount_is_refused(amount: str) -> None:
    with pytest.raises(ValueError):
        allocate(D(amount), [OVERDUE])


def test_bad_dues_are_refused() -> None:
    with pytest.raises(ValueError):
        allocate(D("10"), [OVERDUE, OVERDUE])
    with pytest.raises(ValueError):
        allocate(D("10"), [_due(1, 1, date(2025, 1, 1), "-1", "0", "0", "0")])


cents = st.integers(min_value=0, max_value=50_000_000).map(lambda c: D(c).scaleb(-2))


@st.composite
def dues_lists(draw: st.DrawFn) -> list[InstallmentDue]:
    count = draw(st.integers(min_value=0, max_value=8))
    numbers = draw(st.lists(st.integers(1, 120), min_size=count, max_size=count, unique=True))
    start = date(2024, 1, 1)
    return [
        InstallmentDue(
            installment_id=1000 + k,
            number=number,
            due_date=start + timedelta(days=draw(st.integers(0, 400))),
            late_interest=draw(cents),
            fees=draw(cents),
            interest=draw(cents),
            principal=draw(cents),
        )
        for k, number in enumerate(numbers)
    ]


amounts = st.integers(min_value=1, max_value=300_000_000).map(lambda c: D(c).scaleb(-2))


@given(amounts, dues_lists())
def test_allocation_neither_creates_nor_loses_money(amount: Decimal, dues: list[InstallmentDue]) -> None:
    result = allocate(amount, dues)
    assert sum((row.total for row in result.rows), D(0)) + result.prepayment == amount
    assert result.total == amount
    assert result.prepayment >= 0


@given(amounts, dues_lists())
def test_nothing_later_is_paid_while_something_earlier_is_owed(
    amount: Decimal, dues: list[InstallmentDue]
) -> None:
    result = allocate(amount, dues)
    given_by_id = {row.installment_id: row for row in result.rows}
    slots: list[tuple[Decimal, Decimal]] = []  # (owed, given) in paying order
    for due in sorted(dues, key=lambda d: (d.due_date, d.number)):
        row = given_by_id.get(due.installment_id)
        for component in ALLOCATION_ORDER:
            slots.append((due.owed(component), row.amount(component) if row else D(0)))
    for position, (owed, paid) in enumerate(slots):
        assert 0 <= paid <= owed
        if paid > 0:
            assert all(earlier_paid == earlier_owed for earlier_owed, earlier_paid in slots[:position])
    if result.prepayment > 0:
        assert all(paid == owed for owed, paid in slots)
    assert all(row.total > 0 for row in result.rows)
