"""Payment capacity and seniority shown on the member's header (DESIGN §3)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from domain.bogota_calendar import add_months
from domain.money import to_money


def payment_capacity(basic_salary: Decimal, deduction_factor: Decimal, payroll_discounts: Decimal) -> Decimal:
    """What payroll can still withhold: the paying entity's share of salary minus current discounts.

    Floored at zero: a member already over the limit has no capacity, not a negative one.
    """
    capacity = basic_salary * deduction_factor - payroll_discounts
    return to_money(max(capacity, Decimal(0)))


def seniority_months(join_date: date, today: date) -> int:
    """Whole months completed since joining; Jan 31 → Feb 28 counts as one month."""
    if today < join_date:
        return 0
    months = (today.year - join_date.year) * 12 + (today.month - join_date.month)
    if add_months(join_date, months) > today:
        months -= 1
    return months
