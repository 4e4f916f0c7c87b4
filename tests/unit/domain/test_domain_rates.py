from datetime import date
from decimal import Decimal, localcontext

import pytest

from domain.rates import UsuryRate, daily_rate, late_interest, monthly_rate, usury_rate_on

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


def _reference_late_interest(principal: Decimal, days: int, ea: Decimal) -> Decimal:
    # Independent route: exp(ln(1+EA) * days/365) at high precision.
    with localcontext() as ctx:
        ctx.prec = 60
        return principal * (((1 + ea).ln() * days / 365).exp() - 1)


def test_late_interest_is_capped_by_usury_rate() -> None:
    charged = late_interest(Decimal("1000000"), 30, Decimal("0.35"), USURY, date(2025, 2, 15))
    expected = _reference_late_interest(Decimal("1000000"), 30, Decimal("0.2862"))
    assert abs(charged - expected) <= Decimal("0.005")
    assert charged == charged.quantize(Decimal("0.01"))


def test_late_interest_below_usury_uses_the_agreed_rate() -> None:
    charged = late_interest(Decimal("500000"), 10, Decimal("0.20"), USURY, date(2025, 3, 5))
    assert abs(charged - _reference_late_interest(Decimal("500000"), 10, Decimal("0.20"))) <= Decimal("0.005")


@pytest.mark.parametrize(("principal", "days"), [("1000000", 0), ("1000000", -3), ("0", 10), ("-5", 10)])
def test_late_interest_is_zero_when_nothing_is_late(principal: str, days: int) -> None:
    assert late_interest(Decimal(principal), days, Decimal("0.3"), USURY, date(2025, 2, 1)) == 0
