"""The GMF (gravamen a los movimientos financieros, 4×1000) a debit from savings pays:
the one place it is decided for a payment. The preview, `create_intent`, the apply and
the hold all ask here; a hold stores what it decided with its attempt, and settling it
posts that figure, never a new one (DESIGN §4 rule 11)."""
from __future__ import annotations

from decimal import Decimal

from domain.money import gmf

from .snapshots import SavingsRow

ZERO = Decimal("0.00")


def debit_gmf(account: SavingsRow, amount: Decimal) -> Decimal:
    """GMF on a debit of `amount` from `account` as it is now (rounding: `domain.money.gmf`)."""
    if amount <= 0 or account.gmf_exempt:
        return ZERO
    return gmf(amount)
