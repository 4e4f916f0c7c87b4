"""Interest only as it accrues (Ley 1555 de 2012): the pure rule behind an early payment."""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from domain.allocation import InstallmentDue, allocate, owed_on
from domain.amortization import accrued_interest, elapsed_days, rest_of_period_interest
from domain.money import to_whole_pesos

START = date(2026, 11, 10)
DUE = date(2026, 12, 10)


def due(interest: str = "8406", principal: str = "25794", paid_interest: str = "0") -> InstallmentDue:
    return InstallmentDue(installment_id=9, number=9, due_date=DUE, late_interest=Decimal(0), fees=Decimal(0),
                          interest=Decimal(interest) - Decimal(paid_interest), principal=Decimal(principal))


def test_period_not_begun_owes_nothing() -> None:
    assert owed_on(due(), START, Decimal("8406"), START - timedelta(days=1)) is None
    assert accrued_interest(Decimal("8406"), START, DUE, date(2026, 10, 2)) == 0


def test_period_under_way_owes_interest_prorated_by_days() -> None:
    owed = owed_on(due(), START, Decimal("8406"), date(2026, 12, 2))
    assert owed is not None
    assert owed.interest == Decimal("6164")  # 8,406 × 22/30 = 6,164.4, half up to the peso
    assert owed.principal == Decimal("25794")  # the installment's own principal may be paid


def test_period_ended_owes_everything() -> None:
    assert owed_on(due(), START, Decimal("8406"), DUE) == due()
    assert owed_on(due(), START, Decimal("8406"), DUE + timedelta(days=40)) == due()


def test_interest_already_paid_counts_against_what_accrued() -> None:
    owed = owed_on(due(paid_interest="6000"), START, Decimal("8406"), date(2026, 12, 2))
    assert owed is not None and owed.interest == Decimal("164")
    owed = owed_on(due(paid_interest="7000"), START, Decimal("8406"), date(2026, 12, 2))
    assert owed is not None and owed.interest == 0  # paid ahead of the accrual: nothing more today


def test_money_beyond_what_is_owed_today_prepays_principal() -> None:
    owed = owed_on(due(), START, Decimal("8406"), date(2026, 12, 2))
    assert owed is not None
    split = allocate(Decimal("34200"), [owed])
    assert split.rows[0].interest == Decimal("6164")
    assert split.prepayment == Decimal("34200") - Decimal("6164") - Decimal("25794")


@given(
    interest=st.integers(min_value=0, max_value=10_000_000).map(Decimal),
    length=st.integers(min_value=28, max_value=31),
    offset=st.integers(min_value=-40, max_value=40),
)
def test_accrual_is_whole_pesos_monotone_and_bounded(interest: Decimal, length: int, offset: int) -> None:
    end = START + timedelta(days=length)
    today = START + timedelta(days=offset)
    accrued = accrued_interest(interest, START, end, today)
    tomorrow = accrued_interest(interest, START, end, today + timedelta(days=1))
    assert accrued == accrued.to_integral_value()
    assert Decimal(0) <= accrued <= tomorrow <= interest
    assert accrued == to_whole_pesos(interest * elapsed_days(START, end, today) / length)


@given(
    balance=st.integers(min_value=0, max_value=100_000_000).map(Decimal),
    offset=st.integers(min_value=0, max_value=30),
)
def test_accrued_plus_rest_never_exceeds_the_period_interest_on_a_smaller_balance(balance: Decimal, offset: int) -> None:
    """Paying early never costs more than not paying: the accrual to today on the whole
    balance plus the rest of the period on what is left stays within the period's interest."""
    ea = Decimal("0.1450")
    from domain.rates import monthly_rate

    full = to_whole_pesos(balance * monthly_rate(ea))
    today = START + timedelta(days=offset)
    rest = rest_of_period_interest(balance, ea, START, DUE, today)
    assert accrued_interest(full, START, DUE, today) + rest <= full + 1  # one peso of rounding at most
    assert rest == rest.to_integral_value() and rest >= 0
