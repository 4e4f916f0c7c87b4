from datetime import date
from decimal import ROUND_DOWN, Decimal

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from domain.amortization import (
    PrepaymentMode,
    ScheduledInstallment,
    french_installment,
    french_schedule,
    principal_for_installment,
    reschedule_after_prepayment,
)
from domain.rates import monthly_rate

FIRST_DUE = date(2025, 1, 31)

principals = st.integers(min_value=100_000, max_value=200_000_000).map(Decimal)
eas = st.decimals(min_value=Decimal(0), max_value=Decimal("0.40"), places=4)
terms = st.integers(min_value=1, max_value=120)


def test_french_installment_textbook_figure() -> None:
    # 10,000,000 at 1 % monthly over 12 months: 888,487.88 → billed 888,488.
    assert french_installment(Decimal("10000000"), Decimal("0.01"), 12) == Decimal("888488")


def test_french_installment_without_interest_splits_evenly() -> None:
    assert french_installment(Decimal("1000000"), Decimal(0), 3) == Decimal("333333")
    assert french_installment(Decimal("1000001"), Decimal(0), 2) == Decimal("500001")  # 500000.5 half up


def test_french_installment_needs_a_term() -> None:
    with pytest.raises(ValueError):
        french_installment(Decimal("1000"), Decimal("0.01"), 0)


def test_french_schedule_shape() -> None:
    schedule = french_schedule(Decimal("10000000"), Decimal("0.12682503"), 12, FIRST_DUE)
    assert [row.number for row in schedule] == list(range(1, 13))
    assert schedule[0] == ScheduledInstallment(
        number=1,
        due_date=date(2025, 1, 31),
        principal=Decimal("788488.00"),
        interest=Decimal("100000.00"),
        fees=Decimal("0.00"),
        total=Decimal("888488.00"),
        balance_after=Decimal("9211512.00"),
    )
    assert schedule[1].due_date == date(2025, 2, 28)
    assert schedule[2].due_date == date(2025, 3, 31)
    assert all(row.total == Decimal("888488") for row in schedule[:-1])
    assert schedule[-1].balance_after == 0
    assert sum(row.principal for row in schedule) == Decimal("10000000")


def test_french_schedule_adds_fees_to_the_total() -> None:
    schedule = french_schedule(Decimal("1000000"), Decimal("0.2"), 6, FIRST_DUE, monthly_fee=Decimal("3800"))
    for row in schedule:
        assert row.fees == Decimal("3800")
        assert row.total == row.principal + row.interest + row.fees


def test_french_schedule_refuses_non_positive_loan() -> None:
    with pytest.raises(ValueError):
        french_schedule(Decimal(0), Decimal("0.2"), 6, FIRST_DUE)


@settings(deadline=None)
@given(principals, eas, terms)
def test_french_schedule_principal_sums_exactly_to_the_loan(principal: Decimal, ea: Decimal, n: int) -> None:
    schedule = french_schedule(principal, ea, n, FIRST_DUE)
    assert len(schedule) == n
    assert sum(row.principal for row in schedule) == principal
    assert schedule[-1].balance_after == 0
    assert all(row.principal >= 0 and row.interest >= 0 for row in schedule)
    installment = french_installment(principal, monthly_rate(ea), n)
    assert all(row.total == installment for row in schedule[:-1])


def test_principal_for_installment_demo_figure() -> None:
    loan = principal_for_installment(Decimal("3800"), Decimal("0.20"), 12)
    assert loan == loan.to_integral_value()
    assert french_installment(loan, monthly_rate(Decimal("0.20")), 12) == Decimal("3800")


def test_principal_for_installment_unreachable_figure_raises() -> None:
    # One installment at ~1 % monthly bills round(1.01·P): 49 → 49, 50 → 51, so 50 is skipped.
    ea = Decimal("0.12682503")
    reachable = {french_installment(Decimal(p), monthly_rate(ea), 1) for p in range(1, 300)}
    unreachable = next(v for v in range(10, 250) if Decimal(v) not in reachable)
    with pytest.raises(ValueError):
        principal_for_installment(Decimal(unreachable), ea, 1)


@settings(deadline=None)
@given(principals, eas, terms)
def test_principal_for_installment_round_trips(principal: Decimal, ea: Decimal, n: int) -> None:
    installment = french_installment(principal, monthly_rate(ea), n)
    loan = principal_for_installment(installment, ea, n)
    assert loan == loan.to_integral_value()
    assert french_installment(loan, monthly_rate(ea), n) == installment


def test_reduce_term_keeps_the_installment_and_shortens_the_schedule() -> None:
    original = french_schedule(Decimal("10000000"), Decimal("0.12682503"), 12, FIRST_DUE)
    balance = original[2].balance_after - Decimal("2000000")
    new = reschedule_after_prepayment(
        balance, Decimal("0.12682503"), 9, Decimal("888488"), date(2025, 4, 30), PrepaymentMode.REDUCE_TERM
    )
    assert len(new) < 9
    assert all(row.total == Decimal("888488") for row in new[:-1])
    assert new[-1].total <= Decimal("888488")
    assert sum(row.principal for row in new) == balance
    assert new[0].due_date == date(2025, 4, 30)


def test_reduce_installment_keeps_the_count_and_lowers_the_installment() -> None:
    original = french_schedule(Decimal("10000000"), Decimal("0.12682503"), 12, FIRST_DUE)
    balance = original[2].balance_after - Decimal("2000000")
    new = reschedule_after_prepayment(
        balance,
        Decimal("0.12682503"),
        9,
        Decimal("888488"),
        date(2025, 4, 30),
        PrepaymentMode.REDUCE_INSTALLMENT,
    )
    assert len(new) == 9
    assert new[0].total < Decimal("888488")
    assert sum(row.principal for row in new) == balance


def test_prepayment_modes_are_the_stored_values() -> None:
    assert PrepaymentMode("reduce_term") is PrepaymentMode.REDUCE_TERM
    assert PrepaymentMode("reduce_installment") is PrepaymentMode.REDUCE_INSTALLMENT


@settings(deadline=None)
@given(
    principal=principals,
    ea=eas,
    n=st.integers(min_value=2, max_value=120),
    paid_fraction=st.floats(min_value=0, max_value=1),  # only picks how many were paid
    prepay_fraction=st.decimals(min_value=Decimal(0), max_value=Decimal("0.99"), places=2),
    mode=st.sampled_from(PrepaymentMode),
)
def test_reschedule_after_prepayment_properties(
    principal: Decimal,
    ea: Decimal,
    n: int,
    paid_fraction: float,
    prepay_fraction: Decimal,
    mode: PrepaymentMode,
) -> None:
    original = french_schedule(principal, ea, n, FIRST_DUE)
    paid = min(n - 1, max(1, int(paid_fraction * n)))
    installment = original[0].total
    before = original[paid - 1].balance_after
    balance = before - (before * prepay_fraction).quantize(Decimal("1"), rounding=ROUND_DOWN)
    assume(balance > 0)
    remaining = n - paid
    new = reschedule_after_prepayment(balance, ea, remaining, installment, original[paid].due_date, mode)
    assert sum(row.principal for row in new) == balance
    assert new[-1].balance_after == 0
    assert all(row.principal >= 0 for row in new)
    match mode:
        case PrepaymentMode.REDUCE_TERM:
            assert len(new) <= remaining
            assert all(row.total == installment for row in new[:-1])
        case PrepaymentMode.REDUCE_INSTALLMENT:
            assert len(new) == remaining
            # The last row settles rounding residue, as in any schedule; the level one is compared.
            assert all(row.total <= installment for row in new[:-1])


def test_every_installment_is_whole_pesos_the_last_one_too() -> None:
    """P = 1,472,637 at 8 % E.A. over 12 months: level 127,912 and the last one was
    127,916.68; installments are billed and discounted from payroll in whole pesos."""
    schedule = french_schedule(Decimal("1472637"), Decimal("0.08"), 12, FIRST_DUE)
    assert {row.total for row in schedule[:-1]} == {Decimal("127912")}
    assert schedule[-1].total == schedule[-1].total.to_integral_value()
    assert sum(row.principal for row in schedule) == Decimal("1472637")


@settings(max_examples=200, deadline=None)
@given(principals, eas, terms)
def test_schedules_are_whole_pesos_and_principal_sums_to_the_loan(principal: Decimal, ea: Decimal, n: int) -> None:
    schedule = french_schedule(principal, ea, n, FIRST_DUE)
    assert sum(row.principal for row in schedule) == principal
    for row in schedule:
        assert row.total == row.total.to_integral_value(), row
        assert row.interest == row.interest.to_integral_value() and row.principal >= 0, row
