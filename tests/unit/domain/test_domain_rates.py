from datetime import date, timedelta
from decimal import Decimal, localcontext

import pytest
from hypothesis import given, settings, strategies as st

from domain.rates import (
    UsuryRate,
    daily_rate,
    last_certified_day,
    late_interest,
    monthly_rate,
    usury_rate_on,
)

# Illustrative usury caps (consumo y ordinario), not an official series.
USURY = (
    UsuryRate(date(2025, 1, 1), date(2025, 1, 31), Decimal("0.2816")),
    UsuryRate(date(2025, 2, 1), date(2025, 2, 28), Decimal("0.2862")),
    UsuryRate(date(2025, 3, 1), date(2025, 3, 31), Decimal("0.2814")),
)


def test_monthly_rate_of_12_68_percent_ea_is_one_percent() -> None:
    assert abs(monthly_rate(Decimal("0.12682503")) - Decimal("0.01")) < Decimal("1e-8")


def test_monthly_rate_compounds_back_to_ea() -> None:
    ea = Decimal("0.2862")
    with localcontext() as ctx:
        ctx.prec = 34
        assert abs((1 + monthly_rate(ea)) ** 12 - 1 - ea) < Decimal("1e-25")


def test_rates_of_zero_ea_are_zero() -> None:
    assert monthly_rate(Decimal(0)) == 0
    assert daily_rate(Decimal(0)) == 0


def test_daily_rate_compounds_back_to_ea() -> None:
    ea = Decimal("0.30")
    with localcontext() as ctx:
        ctx.prec = 34
        assert abs((1 + daily_rate(ea)) ** 365 - 1 - ea) < Decimal("1e-25")


def test_rate_below_minus_100_percent_is_refused() -> None:
    with pytest.raises(ValueError):
        monthly_rate(Decimal("-1"))


def test_usury_rate_on_finds_the_period_inclusive() -> None:
    assert usury_rate_on(USURY, date(2025, 2, 1)) == Decimal("0.2862")
    assert usury_rate_on(USURY, date(2025, 2, 28)) == Decimal("0.2862")
    assert usury_rate_on(USURY, date(2025, 1, 31)) == Decimal("0.2816")


def test_usury_rate_on_uncovered_day_raises_lookup_error() -> None:
    with pytest.raises(LookupError):
        usury_rate_on(USURY, date(2025, 4, 1))


# Certified by the Superintendencia Financiera, consumo y ordinario (db/data/usury_rates.csv).
SEP_2025 = UsuryRate(date(2025, 9, 1), date(2025, 9, 30), Decimal("0.2501"))
OCT_2025 = UsuryRate(date(2025, 10, 1), date(2025, 10, 31), Decimal("0.2436"))
CERTIFIED = (SEP_2025, OCT_2025)


def _days(first: date, last: date) -> int:
    return (last - first).days + 1


def test_late_interest_is_simple_on_overdue_principal() -> None:
    """60 days at 20 % E.A. (under both caps): principal × days × the equivalent daily
    rate, nothing earned on interest; the old code compounded daily and charged more."""
    principal = Decimal("1000000")
    charged = late_interest(principal, Decimal("0.20"), CERTIFIED, date(2025, 9, 1), date(2025, 10, 30))
    with localcontext() as ctx:
        ctx.prec = 34
        simple = principal * 60 * daily_rate(Decimal("0.20"))
        compounded = principal * ((1 + daily_rate(Decimal("0.20"))) ** 60 - 1)
    assert charged == simple.quantize(Decimal("0.01"))
    assert charged < compounded.quantize(Decimal("0.01"))


def test_each_day_is_capped_by_its_own_period() -> None:
    """35 % agreed, a delay from 20 Sep to 10 Oct 2025: Sep days at 25.01 %, Oct days at
    24.36 % (the old code applied the last day's cap to the whole delay)."""
    principal = Decimal("2500000")
    charged = late_interest(principal, Decimal("0.35"), CERTIFIED, date(2025, 9, 20), date(2025, 10, 10))
    with localcontext() as ctx:
        ctx.prec = 34
        expected = principal * (11 * daily_rate(Decimal("0.2501")) + 10 * daily_rate(Decimal("0.2436")))
    assert charged == expected.quantize(Decimal("0.01"))
    assert charged != late_interest(principal, Decimal("0.2436"), CERTIFIED, date(2025, 9, 20), date(2025, 10, 10))


def _cap_allowance(principal: Decimal, cap: Decimal, days: int) -> Decimal:
    # What the cap allows for `days`: (1+cap)^(days/365)-1, by another route (ln/exp).
    with localcontext() as ctx:
        ctx.prec = 60
        return principal * (((1 + cap).ln() * days / 365).exp() - 1)


@settings(max_examples=200, deadline=None)
@given(
    principal=st.decimals(min_value=Decimal("1"), max_value=Decimal("500000000"), places=2),
    late_ea=st.decimals(min_value=Decimal("0"), max_value=Decimal("0.9"), places=4),
    start_offset=st.integers(min_value=0, max_value=29),
    end_offset=st.integers(min_value=0, max_value=30),
)
def test_a_delay_over_two_periods_never_exceeds_either_cap_for_its_days(
    principal: Decimal, late_ea: Decimal, start_offset: int, end_offset: int
) -> None:
    first, last = date(2025, 9, 1) + timedelta(days=start_offset), date(2025, 10, 1) + timedelta(days=end_offset)
    total = late_interest(principal, late_ea, CERTIFIED, first, last)
    in_sep = late_interest(principal, late_ea, CERTIFIED, first, SEP_2025.valid_to)
    in_oct = late_interest(principal, late_ea, CERTIFIED, OCT_2025.valid_from, last)
    half_cent = Decimal("0.005")
    assert in_sep <= _cap_allowance(principal, SEP_2025.ea, _days(first, SEP_2025.valid_to)) + half_cent
    assert in_oct <= _cap_allowance(principal, OCT_2025.ea, _days(OCT_2025.valid_from, last)) + half_cent
    assert abs(total - (in_sep + in_oct)) <= Decimal("0.01")  # simple: the parts add up
    assert total <= _cap_allowance(principal, min(late_ea, SEP_2025.ea), _days(first, last)) + half_cent


def test_a_day_without_a_certified_cap_is_refused() -> None:
    with pytest.raises(LookupError):
        late_interest(Decimal("1000"), Decimal("0.2"), CERTIFIED, date(2025, 10, 30), date(2025, 11, 2))


def test_last_certified_day_follows_unbroken_periods() -> None:
    assert last_certified_day(CERTIFIED, date(2025, 9, 12)) == date(2025, 10, 31)
    assert last_certified_day(CERTIFIED, date(2025, 11, 1)) is None
    assert last_certified_day((SEP_2025,), date(2025, 9, 30)) == date(2025, 9, 30)


@pytest.mark.parametrize(("principal", "last"), [("1000000", date(2025, 9, 9)), ("0", date(2025, 9, 20)),
                                                  ("-5", date(2025, 9, 20))])
def test_late_interest_is_zero_when_nothing_is_late(principal: str, last: date) -> None:
    assert late_interest(Decimal(principal), Decimal("0.3"), CERTIFIED, date(2025, 9, 10), last) == 0
