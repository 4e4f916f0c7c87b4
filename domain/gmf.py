"""GMF (gravamen a los movimientos financieros, 4×1000): what of a debit is exempt.

Estatuto Tributario (ET), libro sexto:
- art. 872: the rate, 4 per thousand (`domain.money.GMF_RATE`); the tax is rounded to
  the peso by `domain.money.gmf`, the one rounding rule (half up).
- art. 879 num. 1: withdrawals from ONE savings account per holder, marked by the
  holder as the exempt one, are exempt up to 350 UVT a month; beyond that they pay.
- art. 879 num. 14: transfers between savings and/or current accounts opened in the same
  entity in the name of the same and only holder are exempt (and do not use up the
  num. 1 monthly allowance, which covers withdrawals).
- art. 868: the UVT is fixed by a DIAN resolution for each year (table below).
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from domain.money import gmf

_ZERO = Decimal("0.00")
EXEMPT_UVT_PER_MONTH = 350  # ET art. 879 num. 1


@dataclass(frozen=True, slots=True)
class Uvt:
    year: int
    value: Decimal
    source: str


# One row per year, from the DIAN resolution that fixed it; add next year's row when the
# DIAN publishes it (each December). A year missing here is refused, never guessed.
UVT_TABLE: dict[int, Uvt] = {
    uvt.year: uvt
    for uvt in (
        Uvt(2025, Decimal("49799"), "Resolución DIAN 000193 del 4 de diciembre de 2024"),
        Uvt(2026, Decimal("52374"), "Resolución DIAN 000238 del 15 de diciembre de 2025"),
    )
}


def uvt(year: int) -> Uvt:
    """The year's UVT. Until its DIAN resolution is added to UVT_TABLE, the latest earlier
    year's applies: the UVT only grows, so the exemption is then smaller, never larger,
    and the cooperative (the withholding agent, art. 876) never under-withholds."""
    known = [y for y in UVT_TABLE if y <= year]
    if not known:
        raise LookupError(f"no UVT on record for {year} or before")
    return UVT_TABLE[max(known)]


def monthly_exempt_cap(year: int) -> Decimal:
    """350 UVT of the year, in pesos: how much the marked account may debit GMF-free a month."""
    return EXEMPT_UVT_PER_MONTH * uvt(year).value


def exempt_account_gmf(amount: Decimal, used_this_month: Decimal, cap: Decimal) -> Decimal:
    """GMF on a debit of `amount` from the marked exempt account, when `used_this_month`
    of its monthly allowance `cap` is already used: only the part beyond the cap pays."""
    if amount < 0 or used_this_month < 0:
        raise ValueError("debits and what was used of the allowance cannot be negative")
    left = max(cap - used_this_month, _ZERO)
    return gmf(max(amount - left, _ZERO))
