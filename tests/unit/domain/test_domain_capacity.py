from datetime import date
from decimal import Decimal

import pytest

from domain.capacity import payment_capacity, seniority_months


def test_payment_capacity_is_salary_share_minus_discounts() -> None:
    assert payment_capacity(Decimal("3500000"), Decimal("1"), Decimal("172896")) == Decimal("3327104.00")
    assert payment_capacity(Decimal("5000000"), Decimal("0.5"), Decimal("1000000.005")) == Decimal(
        "1500000.00"
    )


def test_payment_capacity_never_goes_negative() -> None:
    assert payment_capacity(Decimal("1000000"), Decimal("0.5"), Decimal("900000")) == Decimal("0.00")


@pytest.mark.parametrize(
    ("join", "today", "months"),
    [
        (date(2021, 12, 15), date(2025, 3, 15), 39),
        (date(2021, 12, 15), date(2025, 3, 14), 38),
        (date(2025, 1, 31), date(2025, 2, 28), 1),
        (date(2025, 1, 31), date(2025, 2, 27), 0),
        (date(2025, 3, 1), date(2025, 3, 1), 0),
        (date(2025, 3, 1), date(2024, 3, 1), 0),
        (date(2019, 10, 1), date(2025, 3, 1), 65),
    ],
)
def test_seniority_counts_whole_months(join: date, today: date, months: int) -> None:
    assert seniority_months(join, today) == months
