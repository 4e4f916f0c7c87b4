"""An early payment re-bills the interest of the loan period under way (Ley 1555 de 2012).

Interest is owed only as it accrues: a payment made before the due date pays the
interest accrued so far (`domain.allocation.owed_on`), and whatever principal it returns
stops accruing from that day. So, once a payment has moved principal while a period is
under way, that period's installment is billed: the interest already paid (the accrual
up to today) plus the interest the balance left accrues until the due date
(`domain.amortization.rest_of_period_interest`). Fineract's "interest recalculation" on
early repayment does the same. The ledger is untouched: interest income is booked when
paid, never when billed.
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.orm import Session

from domain.allocation import Allocation
from domain.amortization import rest_of_period_interest

from .planning import ObligationPlan
from .snapshots import InstallmentRow

ZERO = Decimal("0.00")

_REBILL_SQL = text("UPDATE installments SET interest = :interest WHERE id = :id")


def current_installment(plan: ObligationPlan, today: date) -> InstallmentRow | None:
    """The due installment whose period is under way on `today`, if any."""
    for installment in plan.due_installments:
        start = installment.period_start
        if start is not None and start <= today < installment.due_date:
            return installment
    return None


def rebill_current_period(session: Session, plan: ObligationPlan, split: Allocation, today: date) -> Decimal:
    """Re-bill the interest of the period under way after `split` is applied; returns the
    interest no longer owed on it (0 when nothing changed)."""
    loan = plan.obligation.loan
    installment = current_installment(plan, today)
    if loan is None or installment is None or installment.period_start is None:
        return ZERO
    row = next((r for r in split.rows if r.installment_id == installment.id), None)
    principal_now = row.principal if row else ZERO
    if principal_now == 0 and split.prepayment == 0:
        return ZERO  # no principal came back: the scheduled interest still accrues as billed
    balance_after = (
        installment.principal - installment.paid_principal - principal_now
        + sum((i.principal - i.paid_principal for i in plan.later_installments), ZERO)
        - split.prepayment
    )
    paid_interest = installment.paid_interest + (row.interest if row else ZERO)
    rest = rest_of_period_interest(balance_after, loan.ea_rate, installment.period_start,
                                   installment.due_date, today)
    # Never above what was billed (the rest is on a smaller balance, so it only lowers it;
    # the bound guards the peso a rounding could add) nor below what is already paid.
    interest = max(min(paid_interest + rest, installment.interest), paid_interest)
    if interest == installment.interest:
        return ZERO
    session.execute(_REBILL_SQL, {"id": installment.id, "interest": interest})
    return installment.interest - interest
