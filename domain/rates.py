"""Interest rates: effective annual (E.A.) conversions, usury cap and late interest (DESIGN §3)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, localcontext

from domain.money import to_money

# Fractional powers lose digits fast; 34 significant digits (IEEE decimal128) keep a
# 120-month schedule exact to the cent with a wide margin.
RATE_PRECISION = 34
_ONE = Decimal(1)
# Day-count convention for late interest: an actual/365 year, every calendar day counts.
DAYS_PER_YEAR = 365


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
    """Daily rate *equivalent* to `ea` on a 365-day year: (1 + EA)^(1/365) - 1.

    The equivalence formula is how the Superintendencia Financiera converts its
    effective annual certifications to shorter periods. Charged as simple interest it
    stays below the E.A. for any number of days (365 such days sum to less than EA),
    so a day at the cap's equivalent rate never exceeds the cap; EA/365 (nominal)
    would reach it exactly over a year and leave no margin for rounding.
    """
    return _periodic_rate(ea, DAYS_PER_YEAR)


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


def last_certified_day(table: Sequence[UsuryRate], start: date) -> date | None:
    """The last day of the unbroken run of certified days beginning at `start`, or None
    when `start` itself has no certification. Late interest accrues no further: a day
    without a certified cap has no legal ceiling we could prove we stayed under."""
    day = start
    while True:
        covering = [row.valid_to for row in table if row.valid_from <= day <= row.valid_to]
        if not covering:
            return None if day == start else day - timedelta(days=1)
        day = max(covering) + timedelta(days=1)


def late_daily_rates(
    late_ea: Decimal, usury_table: Sequence[UsuryRate], first_day: date, last_day: date
) -> list[Decimal]:
    """Each day's late rate from `first_day` to `last_day` inclusive: the agreed late rate,
    cut to that day's certified usury cap (Código de Comercio art. 884, Código Penal
    art. 305: charging above it voids the excess and is a crime). Raises LookupError
    when a day has no certified cap."""
    rates: list[Decimal] = []
    day = first_day
    while day <= last_day:
        rates.append(daily_rate(min(late_ea, usury_rate_on(usury_table, day))))
        day += timedelta(days=1)
    return rates


def late_interest(
    overdue_principal: Decimal,
    late_ea: Decimal,
    usury_table: Sequence[UsuryRate],
    first_day: date,
    last_day: date,
) -> Decimal:
    """Late interest on overdue principal for the days `first_day`..`last_day` inclusive.

    SIMPLE interest: each day earns principal × that day's daily rate and nothing is
    earned on interest already accrued. Código de Comercio art. 886 allows interest on
    interest only after a judicial demand or an agreement, and only on interest at least
    a year overdue; neither is the case for an installment in arrears. Each day is
    capped by the usury rate certified for that day, never by another period's.
    """
    if overdue_principal <= 0 or last_day < first_day:
        return to_money(0)
    with localcontext() as ctx:
        ctx.prec = RATE_PRECISION
        total_rate = sum(late_daily_rates(late_ea, usury_table, first_day, last_day), Decimal(0))
        return to_money(overdue_principal * total_rate)
