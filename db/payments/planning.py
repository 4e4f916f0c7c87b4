"""What can be paid of an obligation today and how an amount splits over it.

The preview (Verificación), the requirements ("within what is owed") and the worker all
use these functions, so the allocation the member was shown is the one that is applied
when nothing changed in between.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal

from domain.allocation import Allocation, InstallmentDue, allocate, owed_on

from .snapshots import InstallmentRow, ObligationRow

ZERO = Decimal("0.00")


@dataclass(frozen=True, slots=True)
class ObligationPlan:
    obligation: ObligationRow
    # Installments an amount settles first (oldest first): for loans, those already due
    # plus the one whose period is under way; for dues-type obligations, every billed
    # unpaid installment.
    due_installments: tuple[InstallmentRow, ...]
    # Loans only: installments whose period has not begun. Nothing of them is owed yet
    # (Ley 1555 de 2012): money towards them prepays principal, and they are rescheduled.
    later_installments: tuple[InstallmentRow, ...]
    # What is owed today of each due installment, in the same order: a period under way
    # owes only the interest accrued so far (`domain.allocation.owed_on`).
    owed: tuple[InstallmentDue, ...] = ()

    @property
    def dues(self) -> list[InstallmentDue]:
        return list(self.owed)

    @property
    def owed_now(self) -> Decimal:
        return sum((due.total for due in self.owed), ZERO)

    @property
    def max_prepayment(self) -> Decimal:
        return sum((i.principal - i.paid_principal for i in self.later_installments), ZERO)

    @property
    def max_payable(self) -> Decimal:
        return self.owed_now + self.max_prepayment

    @property
    def label(self) -> str:
        return obligation_label(self.obligation)


def obligation_label(obligation: ObligationRow) -> str:
    return f"{obligation.description} {obligation.number}"


def obligation_plan(obligation: ObligationRow, today: date) -> ObligationPlan:
    unpaid = obligation.unpaid  # already oldest first
    if obligation.loan is None:
        return ObligationPlan(obligation, tuple(unpaid), (), tuple(i.as_due() for i in unpaid))
    due: list[InstallmentRow] = []
    owed: list[InstallmentDue] = []
    later: list[InstallmentRow] = []
    for installment in unpaid:
        now = _owed_today(installment, today) if not later else None
        if now is None:
            later.append(installment)
        else:
            due.append(installment)
            owed.append(now)
    return ObligationPlan(obligation, tuple(due), tuple(later), tuple(owed))


def _owed_today(installment: InstallmentRow, today: date) -> InstallmentDue | None:
    """None when the installment's period has not begun and nothing of it was paid (one
    partly paid before this rule keeps its billed figures and stays due)."""
    start = installment.period_start
    if start is None or start >= installment.due_date:
        return installment.as_due()  # no known period: billed as scheduled
    now = owed_on(installment.as_due(), start, installment.interest, today)
    if now is None and installment.paid > 0:
        return replace(installment.as_due(), interest=ZERO)
    return now


def split_amount(plan: ObligationPlan, amount: Decimal) -> Allocation:
    """Oldest installment first, late interest → fees → interest → principal; the rest
    prepays principal. The caller has checked `amount <= plan.max_payable`."""
    if amount > plan.max_payable:
        raise ValueError(f"{amount} exceeds what is payable ({plan.max_payable})")
    return allocate(amount, plan.dues)


def overdue_total(obligation: ObligationRow, today: date) -> Decimal:
    return sum((i.outstanding for i in obligation.unpaid if i.due_date < today), ZERO)
