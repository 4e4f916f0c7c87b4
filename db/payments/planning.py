"""What can be paid of an obligation today and how an amount splits over it.

The preview (Verificación), the requirements ("within what is owed") and the worker all
use these functions, so the allocation the member was shown is the one that is applied
when nothing changed in between.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from domain.allocation import Allocation, InstallmentDue, allocate

from .snapshots import InstallmentRow, ObligationRow

ZERO = Decimal("0.00")


@dataclass(frozen=True, slots=True)
class ObligationPlan:
    obligation: ObligationRow
    # Installments an amount settles first (oldest first): for loans, everything already
    # due plus the next one; for dues-type obligations, every billed unpaid installment.
    due_installments: tuple[InstallmentRow, ...]
    # Loans only: the installments after the next one, whose principal a prepayment reduces.
    later_installments: tuple[InstallmentRow, ...]

    @property
    def dues(self) -> list[InstallmentDue]:
        return [i.as_due() for i in self.due_installments]

    @property
    def owed_now(self) -> Decimal:
        return sum((i.outstanding for i in self.due_installments), ZERO)

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
        return ObligationPlan(obligation, tuple(unpaid), ())
    due_now = [i for i in unpaid if i.due_date <= today]
    upcoming = [i for i in unpaid if i.due_date > today]
    return ObligationPlan(obligation, tuple(due_now + upcoming[:1]), tuple(upcoming[1:]))


def split_amount(plan: ObligationPlan, amount: Decimal) -> Allocation:
    """Oldest installment first, late interest → fees → interest → principal; the rest
    prepays principal. The caller has checked `amount <= plan.max_payable`."""
    if amount > plan.max_payable:
        raise ValueError(f"{amount} exceeds what is payable ({plan.max_payable})")
    return allocate(amount, plan.dues)


def overdue_total(obligation: ObligationRow, today: date) -> Decimal:
    return sum((i.outstanding for i in obligation.unpaid if i.due_date < today), ZERO)
