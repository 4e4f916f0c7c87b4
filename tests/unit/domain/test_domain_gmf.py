"""GMF rules (ET art. 879) and the one rounding rule, as pure functions."""
from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

from hypothesis import given
from hypothesis import strategies as st

from domain.gmf import UVT_TABLE, exempt_account_gmf, monthly_exempt_cap, uvt
from domain.money import GMF_RATE, GMF_ROUNDING, gmf


def test_uvt_per_year_with_its_dian_resolution() -> None:
    assert uvt(2025).value == Decimal("49799") and "000193" in uvt(2025).source
    assert uvt(2026).value == Decimal("52374") and "000238" in uvt(2026).source
    assert all(row.source.startswith("Resolución DIAN") for row in UVT_TABLE.values())


def test_a_year_not_yet_on_record_uses_the_latest_earlier_uvt() -> None:
    assert uvt(max(UVT_TABLE) + 1) == UVT_TABLE[max(UVT_TABLE)]


def test_monthly_cap_is_350_uvt() -> None:
    assert monthly_exempt_cap(2025) == Decimal("17429650")
    assert monthly_exempt_cap(2026) == Decimal("18330900")


def test_gmf_rounds_half_up_to_the_peso_not_bankers() -> None:
    assert GMF_ROUNDING == "ROUND_HALF_UP"
    assert gmf(Decimal("125")) == Decimal("1")  # 0.50 → 1; banker's rounding would give 0
    assert (Decimal("125") * GMF_RATE).quantize(Decimal(1), rounding=ROUND_HALF_EVEN) == 0
    assert gmf(Decimal("100000")) == Decimal("400")


def test_exempt_account_pays_only_beyond_the_allowance() -> None:
    cap = Decimal("1000000")
    assert exempt_account_gmf(Decimal("50000"), Decimal("900000"), cap) == 0
    assert exempt_account_gmf(Decimal("150000"), Decimal("900000"), cap) == gmf(Decimal("50000"))
    assert exempt_account_gmf(Decimal("150000"), Decimal("2000000"), cap) == gmf(Decimal("150000"))


@given(amount=st.integers(0, 10**10).map(Decimal), used=st.integers(0, 10**10).map(Decimal))
def test_exempt_account_never_pays_more_than_a_plain_account(amount: Decimal, used: Decimal) -> None:
    tax = exempt_account_gmf(amount, used, monthly_exempt_cap(2026))
    assert Decimal(0) <= tax <= gmf(amount)
