"""Interest rates: effective annual (E.A.) conversions, usury cap and late interest (DESIGN §3)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, localcontext

from domain.money import to_money

# Fractional powers lose digits fast; 34 significant digits (IEEE decimal128) keep a
# 120-month schedule exact to the cent with a wide margin.
RATE_PRECISION = 34
_ONE = Decimal(1)


def _periodic_rate(ea: Decimal, periods_per_year: int) -> Decimal:
    if ea <= -1:
        raise ValueError("an effective annual rate must be greater than -100 %")
    with localcontext() as ctx:
        ctx.prec = RATE_PRECISION
        return (_ONE + ea) ** (_ONE / Decimal(periods_per_year)) - _ONE


def monthly_rate(ea: Decimal) -> Decimal:
    """Monthly rate equivalent to `ea` (a fraction: Decimal("0.1268") is 12.68 % E.A.)."""
    return _periodic_rate(ea, 12)


def daily_rate(ea: Decimal) -> Decimal:
    """Daily rate equivalent to `ea`, on a 365-day year."""
    return _periodic_rate(ea, 365)


@dataclass(frozen=True, slots=True)
class UsuryRate:
    """The usury cap certified by the Superintendencia Financiera for a period (inclusive)."""

    valid_from: date
    valid_to: date
    ea: Decimal


def usury_rate_on(table: Sequence[UsuryRate], day: date) -> Decimal:
    """The usury rate in force on `day`; a later certification supersedes an overlapping one."""
    covering = [row for row in table if row.valid_from <= day <= row.valid_to]
    if not covering:
        raise LookupError(f"no usury rate covers {day.isoformat()}")
    return max(covering, key=lambda row: row.valid_from).ea


def late_interest(
    overdue_principal: Decimal,
    days_late: int,
    late_ea: Decimal,
    usury_table: Sequence[UsuryRate],
    on_day: date,
) -> Decimal:
    """Late interest on overdue principal, compounded at the daily equivalent rate.

    The rate applied never exceeds the usury rate in force on `on_day`: charging above it
    is a crime in Colombia (Código Penal art. 305) and voids the excess.
    """
    if days_late <= 0 or overdue_principal <= 0:
        return to_money(0)
    capped_ea = min(late_ea, usury_rate_on(usury_table, on_day))
    with localcontext() as ctx:
        ctx.prec = RATE_PRECISION
        growth = (_ONE + daily_rate(capped_ea)) ** days_late - _ONE
        return to_money(overdue_principal * growth)
