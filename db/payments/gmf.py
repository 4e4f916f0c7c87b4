"""The GMF (gravamen a los movimientos financieros, 4×1000) a debit from savings pays:
the one place it is decided for a payment. The preview, `create_intent`, the apply and
the hold all ask here; a hold stores what it decided with its attempt, and settling it
posts that figure, never a new one (DESIGN §4 rule 11).

The rules and their sources (ET art. 872, art. 879 num. 1 and 14, the UVT table) are in
`domain/gmf.py`; this module reads what the rules need from the database: how much of
the marked account's monthly allowance is already used.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal

from domain.gmf import exempt_account_gmf, monthly_exempt_cap
from domain.money import gmf
from domain.payment_request import PaymentRequest

from .snapshots import SavingsRow

ZERO = Decimal("0.00")
KIND_TRANSFER = "transfer"


def debit_gmf(account: SavingsRow, amount: Decimal) -> Decimal:
    """GMF on a debit of `amount` from a NON-exempt `account` (rounding: `domain.money.gmf`).
    An exempt account's debit depends on its month: use `debits_gmf`."""
    if amount <= 0:
        return ZERO
    if account.gmf_exempt:
        raise ValueError("an exempt account's GMF depends on its monthly allowance: use debits_gmf")
    return gmf(amount)


def debits_gmf(kind: str, debits: Sequence[tuple[SavingsRow, Decimal]], *, today: date) -> list[Decimal]:
    """GMF of each debit of one intent, in order.

    - A transfer moves money between the member's own accounts at the cooperative (the
      web and `create_intent` only accept the member's own accounts as targets): exempt,
      ET art. 879 num. 14.
    - From the account the member marked exempt: exempt up to 350 UVT of debits in the
      Bogotá calendar month (ET art. 879 num. 1); the part beyond pays.
    - From any other account: 4×1000 on the whole debit.
    """
    if kind == KIND_TRANSFER:
        return [ZERO for _ in debits]
    # Used of the month's allowance: posted debits (loaded with the account, for `today`'s
    # month) plus what pending holds reserve for other payments (the account's `held`).
    used = {account.id: account.exempt_debited + account.held for account, _ in debits if account.gmf_exempt}
    cap = monthly_exempt_cap(today.year) if used else ZERO
    taxes: list[Decimal] = []
    for account, amount in debits:
        if amount <= 0:
            taxes.append(ZERO)
        elif account.gmf_exempt:
            taxes.append(exempt_account_gmf(amount, used[account.id], cap).quantize(ZERO))
            used[account.id] += amount  # two debits of one payment share the month's allowance
        else:
            taxes.append(debit_gmf(account, amount).quantize(ZERO))
    return taxes


def request_gmf(request: PaymentRequest, accounts: Mapping[int, SavingsRow], *, today: date) -> list[Decimal]:
    """GMF of each funding source of `request`, in its order (a PSE source pays none here).
    `accounts` were loaded for `today` and, under the apply, without the intent's own holds."""
    savings = [(accounts[f.savings_account_id], f.amount) for f in request.funding if f.savings_account_id is not None]
    taxes = iter(debits_gmf(request.kind, savings, today=today))
    return [next(taxes) if f.savings_account_id is not None else ZERO for f in request.funding]


def gmf_by_account(request: PaymentRequest, taxes: Sequence[Decimal]) -> dict[int, Decimal]:
    out: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for source, tax in zip(request.funding, taxes, strict=True):
        if source.savings_account_id is not None:
            out[source.savings_account_id] += tax
    return dict(out)
