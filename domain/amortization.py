"""French-system amortization: constant installment, decreasing interest (DESIGN §3)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal, localcontext
from enum import StrEnum
from typing import assert_never

from domain.bogota_calendar import monthly_due_dates
from domain.money import to_money, to_whole_pesos
from domain.rates import RATE_PRECISION, monthly_rate

_ZERO = Decimal(0)
_ONE = Decimal(1)
# The whole-peso principals probed around the closed form; the installment moves by less
# than (1 + i) per peso of principal, so a couple of pesos either side always suffice.
_SEARCH_RADIUS_PESOS = 5


class PrepaymentMode(StrEnum):
    """Ley 1555 de 2012: on a prepayment the member chooses what to reduce."""

    REDUCE_TERM = "reduce_term"
    REDUCE_INSTALLMENT = "reduce_installment"


@dataclass(frozen=True, slots=True)
class ScheduledInstallment:
    number: int
    due_date: date
    principal: Decimal
    interest: Decimal
    fees: Decimal
    total: Decimal
    balance_after: Decimal


def french_installment(principal: Decimal, monthly_rate: Decimal, n: int) -> Decimal:
    """P·i / (1 − (1+i)^−n), in whole pesos.

    Cooperatives bill and discount from payroll in whole pesos (the peso has no circulating
    fraction), so the installment is rounded half up to the peso; the last installment of
    the schedule absorbs the difference.
    """
    if n < 1:
        raise ValueError("a loan needs at least one installment")
    if monthly_rate == 0:
        return to_whole_pesos(principal / n)
    with localcontext() as ctx:
        ctx.prec = RATE_PRECISION
        exact = principal * monthly_rate / (_ONE - (_ONE + monthly_rate) ** -n)
    return to_whole_pesos(exact)


def french_schedule(
    principal: Decimal,
    ea: Decimal,
    n: int,
    first_due: date,
    *,
    monthly_fee: Decimal = _ZERO,
) -> list[ScheduledInstallment]:
    """The full schedule; principal parts add up to `principal` exactly."""
    if principal <= 0:
        raise ValueError("the loan amount must be positive")
    i = monthly_rate(ea)
    loan = to_money(principal)
    installment = french_installment(loan, i, n)
    return _build_schedule(loan, i, installment, n, first_due, monthly_fee, stop_when_paid=False)


def _build_schedule(
    balance: Decimal,
    i: Decimal,
    installment: Decimal,
    max_n: int,
    first_due: date,
    monthly_fee: Decimal,
    *,
    stop_when_paid: bool,
) -> list[ScheduledInstallment]:
    fee = to_money(monthly_fee)
    rows: list[ScheduledInstallment] = []
    for number, due in enumerate(monthly_due_dates(first_due, max_n), start=1):
        # Billed in whole pesos (payroll discounts have no centavos): each month's interest
        # is rounded half up to the peso, so every principal part, and with them the last
        # installment that takes the remaining balance, is whole pesos too.
        interest = to_whole_pesos(balance * i)
        is_last = number == max_n or (stop_when_paid and balance + interest <= installment)
        # The last installment takes the whole remaining balance, so rounding of the
        # installment and of each month's interest never leaves a residue on the loan.
        paid = balance if is_last else min(max(installment - interest, _ZERO), balance)
        balance -= paid
        rows.append(ScheduledInstallment(number, due, paid, interest, fee, paid + interest + fee, balance))
        if is_last:
            break
    return rows


def principal_for_installment(installment: Decimal, ea: Decimal, n: int) -> Decimal:
    """The whole-peso loan amount whose `french_installment` is exactly `installment`.

    Several principals may share an installment; the one nearest the closed form wins.
    """
    i = monthly_rate(ea)
    center = to_whole_pesos(_closed_form_principal(installment, i, n))
    for offset in _search_offsets():
        candidate = center + offset
        if candidate > 0 and french_installment(candidate, i, n) == installment:
            return candidate
    # With n == 1 the installment grows by (1 + i) > 1 per peso, so a few figures are unreachable.
    raise ValueError(f"no whole-peso principal yields an installment of {installment}")


def _closed_form_principal(installment: Decimal, i: Decimal, n: int) -> Decimal:
    if n < 1:
        raise ValueError("a loan needs at least one installment")
    if i == 0:
        return installment * n
    with localcontext() as ctx:
        ctx.prec = RATE_PRECISION
        return installment * (_ONE - (_ONE + i) ** -n) / i


def _search_offsets() -> list[int]:
    offsets = [0]
    for step in range(1, _SEARCH_RADIUS_PESOS + 1):
        offsets += [-step, step]
    return offsets


def reschedule_after_prepayment(
    balance: Decimal,
    ea: Decimal,
    remaining_n: int,
    current_installment: Decimal,
    first_due: date,
    mode: PrepaymentMode,
    *,
    monthly_fee: Decimal = _ZERO,
) -> list[ScheduledInstallment]:
    """The schedule of the balance left after a prepayment, as the member chose (Ley 1555).

    `current_installment` is the level installment without fees (`french_installment`).
    """
    if remaining_n < 1 or balance <= 0:
        raise ValueError("nothing left to reschedule")
    loan = to_money(balance)
    i = monthly_rate(ea)
    match mode:
        case PrepaymentMode.REDUCE_TERM:
            # Same installment, paid until the balance is gone; never longer than before.
            return _build_schedule(
                loan, i, current_installment, remaining_n, first_due, monthly_fee, stop_when_paid=True
            )
        case PrepaymentMode.REDUCE_INSTALLMENT:
            # Capped at the current installment: the old one was rounded to the peso, so
            # after a tiny prepayment late in the loan the recomputed one could come out a
            # peso higher, which would break the promise made to the member.
            installment = min(french_installment(loan, i, remaining_n), current_installment)
            return _build_schedule(
                loan, i, installment, remaining_n, first_due, monthly_fee, stop_when_paid=False
            )
        case _:
            assert_never(mode)


# ---------------------------------------------------------------- interest as it accrues
#
# Ley 1555 de 2012: a member may pay early, and interest is owed only for the time the
# money was actually lent. Each installment's scheduled interest is the interest of its
# period [previous due date, due date) on the balance lent during it, so on any day:
#   - a period not yet begun owes no interest;
#   - a period under way owes its interest prorated by the days elapsed (actual days over
#     the period's actual days, the way a daily accrual on a constant balance comes out);
#   - a period that has ended owes all of it.
# Prorating (rather than charging the whole period or nothing) is what a daily-accrual
# core does and what Fineract's "interest recalculation" does on early repayment.


def period_days(period_start: date, due_date: date) -> int:
    days = (due_date - period_start).days
    if days <= 0:
        raise ValueError("an installment's period must end after it starts")
    return days


def elapsed_days(period_start: date, due_date: date, today: date) -> int:
    """Days of the period [period_start, due_date) already lived on `today` (0..period)."""
    return min(max((today - period_start).days, 0), period_days(period_start, due_date))


def accrued_interest(period_interest: Decimal, period_start: date, due_date: date, today: date) -> Decimal:
    """The part of a period's scheduled interest accrued by `today`, in whole pesos (half up,
    as every billed figure: `to_whole_pesos`)."""
    elapsed = elapsed_days(period_start, due_date, today)
    total = period_days(period_start, due_date)
    if elapsed == total:
        return period_interest
    return to_whole_pesos(period_interest * elapsed / total)


def rest_of_period_interest(
    balance: Decimal, ea: Decimal, period_start: date, due_date: date, today: date
) -> Decimal:
    """Interest that `balance`, left after an early payment on `today`, accrues until the
    period's due date: the period's monthly rate prorated by the days still to run."""
    remaining = period_days(period_start, due_date) - elapsed_days(period_start, due_date, today)
    if remaining == 0 or balance <= 0:
        return _ZERO
    return to_whole_pesos(balance * monthly_rate(ea) * remaining / period_days(period_start, due_date))
