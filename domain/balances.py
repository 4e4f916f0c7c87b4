"""The available balance of a savings account, defined once (issue 9 item 3): what the
wizard shows, what the requirements check and what "Formas de Pago" lists."""
from __future__ import annotations

from decimal import Decimal

_ZERO = Decimal("0.00")


def available_balance(balance: Decimal, held: Decimal, minimum_balance: Decimal) -> Decimal:
    """Balance − pending holds − the minimum balance the account must keep, never shown
    below zero (an account under its minimum has nothing available, not a debt)."""
    return max(_ZERO, balance - held - minimum_balance)
