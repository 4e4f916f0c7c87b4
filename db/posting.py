"""The posting recipe of a payment, defined once (issue 9 item 3): which ledger account
each part of an installment payment credits. The members' payments (`processing._book`)
and the payroll collection (`enrollment.collect_from_payroll`) both book through it, so
the two cannot drift apart.

Amounts are gathered per ledger account as [debit, credit] and netted into one entry's
postings at the end (a debit and a credit on the same account become one line).
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from decimal import Decimal

from domain.allocation import ALLOCATION_ORDER, AllocationRow, Component

from .ledger import Posting, credit, debit

ZERO = Decimal("0.00")

# The cooperative's account (chart.coop_account_ids' key) each component credits;
# principal credits the obligation's own receivable instead.
COMPONENT_ACCOUNTS: Mapping[Component, str] = {
    Component.LATE_INTEREST: "late_interest_receivable",  # accrued daily (db/accruals.py), settled here
    Component.FEES: "insurance_payable",
    Component.INTEREST: "interest_income",
}


class EntryAmounts:
    """[debit, credit] per ledger account, for one journal entry."""

    __slots__ = ("_amounts",)

    def __init__(self) -> None:
        self._amounts: defaultdict[int, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])

    def debit(self, account_id: int, amount: Decimal) -> None:
        self._amounts[account_id][0] += amount

    def credit(self, account_id: int, amount: Decimal) -> None:
        self._amounts[account_id][1] += amount

    def credit_installment(self, coop_ids: Mapping[str, int], obligation_account_id: int, row: AllocationRow) -> None:
        """What one allocation row pays, credited component by component."""
        for component in ALLOCATION_ORDER:
            account = (obligation_account_id if component is Component.PRINCIPAL
                       else coop_ids[COMPONENT_ACCOUNTS[component]])
            self._amounts[account][1] += row.amount(component)

    def postings(self) -> list[Posting]:
        """Net per account, in account order; accounts that net to zero post nothing."""
        out: list[Posting] = []
        for account_id in sorted(self._amounts):
            dr, cr = self._amounts[account_id]
            if dr > cr:
                out.append(debit(account_id, dr - cr))
            elif cr > dr:
                out.append(credit(account_id, cr - dr))
        return out
