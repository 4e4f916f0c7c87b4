"""How a payment is split over an obligation's installments (DESIGN §3, "Allocation").

Fineract's "late interest, fees, interest, principal" strategy: the oldest installment is
settled first and, inside it, what costs the member most while unpaid goes first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from enum import StrEnum

from domain.amortization import accrued_interest

_ZERO = Decimal(0)


class Component(StrEnum):
    LATE_INTEREST = "late_interest"
    FEES = "fees"  # fees and insurance
    INTEREST = "interest"
    PRINCIPAL = "principal"


# The four components of an installment, in the order a payment settles them; the one
# list every sum, allocation row and SQL statement over them is built from.
ALLOCATION_ORDER: tuple[Component, ...] = (
    Component.LATE_INTEREST,
    Component.FEES,
    Component.INTEREST,
    Component.PRINCIPAL,
)
# An installment stores, next to each billed component, what was paid of it.
PAID_PREFIX = "paid_"


@dataclass(frozen=True, slots=True)
class InstallmentDue:
    """What is STILL OWED on one installment, per component."""

    installment_id: int
    number: int
    due_date: date
    late_interest: Decimal
    fees: Decimal
    interest: Decimal
    principal: Decimal

    @property
    def total(self) -> Decimal:
        return self.late_interest + self.fees + self.interest + self.principal

    def owed(self, component: Component) -> Decimal:
        return _component_value(self, component)


@dataclass(frozen=True, slots=True)
class AllocationRow:
    """Money given to one installment, per component; stored as is for audit (DESIGN §4)."""

    installment_id: int
    late_interest: Decimal
    fees: Decimal
    interest: Decimal
    principal: Decimal

    @property
    def total(self) -> Decimal:
        return self.late_interest + self.fees + self.interest + self.principal

    def amount(self, component: Component) -> Decimal:
        return _component_value(self, component)


@dataclass(frozen=True, slots=True)
class Allocation:
    rows: tuple[AllocationRow, ...]
    prepayment: Decimal  # beyond everything owed ("otro valor"): prepays principal

    @property
    def total(self) -> Decimal:
        return sum((row.total for row in self.rows), _ZERO) + self.prepayment


def _component_value(item: InstallmentDue | AllocationRow, component: Component) -> Decimal:
    match component:
        case Component.LATE_INTEREST:
            return item.late_interest
        case Component.FEES:
            return item.fees
        case Component.INTEREST:
            return item.interest
        case Component.PRINCIPAL:
            return item.principal


def allocate(amount: Decimal, dues: Sequence[InstallmentDue]) -> Allocation:
    """Split `amount` oldest installment first, each in ALLOCATION_ORDER; the rest prepays."""
    if amount <= 0:
        raise ValueError("the amount to allocate must be greater than zero")
    _check_dues(dues)
    remaining = amount
    rows: list[AllocationRow] = []
    for due in sorted(dues, key=lambda d: (d.due_date, d.number)):
        if remaining <= 0:
            break
        row, remaining = _allocate_to_installment(remaining, due)
        if row.total > 0:
            rows.append(row)
    return Allocation(rows=tuple(rows), prepayment=remaining)


def _allocate_to_installment(available: Decimal, due: InstallmentDue) -> tuple[AllocationRow, Decimal]:
    given: dict[Component, Decimal] = {}
    for component in ALLOCATION_ORDER:
        given[component] = min(available, due.owed(component))
        available -= given[component]
    row = AllocationRow(
        installment_id=due.installment_id,
        late_interest=given[Component.LATE_INTEREST],
        fees=given[Component.FEES],
        interest=given[Component.INTEREST],
        principal=given[Component.PRINCIPAL],
    )
    return row, available


def owed_on(due: InstallmentDue, period_start: date, period_interest: Decimal, today: date) -> InstallmentDue | None:
    """What of a loan installment is owed on `today` (Ley 1555 de 2012: interest only as it
    accrues). `due` is what is still unpaid; `period_interest` the installment's billed
    interest for its period [period_start, due_date).

    - Period ended (due date reached): everything still unpaid.
    - Period under way: late interest, fees and principal as billed, interest prorated by
      the days elapsed (`accrued_interest`) minus what was already paid of it.
    - Period not begun: None; nothing of it is owed, money towards it prepays principal.
    """
    if today >= due.due_date:
        return due
    if today < period_start:
        return None
    paid_interest = period_interest - due.interest
    accrued = accrued_interest(period_interest, period_start, due.due_date, today)
    return replace(due, interest=min(max(accrued - paid_interest, _ZERO), due.interest))


def _check_dues(dues: Sequence[InstallmentDue]) -> None:
    ids = [due.installment_id for due in dues]
    if len(ids) != len(set(ids)):
        raise ValueError("an installment appears twice")
    for due in dues:
        if any(due.owed(component) < 0 for component in ALLOCATION_ORDER):
            raise ValueError(f"installment {due.installment_id} owes a negative amount")
