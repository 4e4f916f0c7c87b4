from datetime import UTC, date, datetime

import pytest

from domain.bogota_calendar import (
    BOGOTA,
    add_months,
    bogota_date,
    days_late,
    is_business_day,
    monthly_due_dates,
    next_business_day,
    payable_without_late_interest_until,
)


def test_bogota_date_is_five_hours_behind_utc() -> None:
    assert str(BOGOTA) == "America/Bogota"
    assert bogota_date(datetime(2025, 3, 1, 4, 59, tzinfo=UTC)) == date(2025, 2, 28)
    assert bogota_date(datetime(2025, 3, 1, 5, 0, tzinfo=UTC)) == date(2025, 3, 1)


def test_bogota_date_refuses_naive_datetime() -> None:
    with pytest.raises(ValueError):
        bogota_date(datetime(2025, 3, 1, 12, 0))


@pytest.mark.parametrize(
    "holiday",
    [
        date(2025, 1, 1),  # Año Nuevo
        date(2025, 1, 6),  # Reyes Magos (Ley Emiliani, Monday)
        date(2025, 4, 17),  # Jueves Santo
        date(2025, 4, 18),  # Viernes Santo
        date(2025, 7, 20),  # Independencia (a Sunday anyway)
        date(2025, 8, 7),  # Batalla de Boyacá
        date(2025, 12, 8),  # Inmaculada Concepción
        date(2025, 12, 25),
    ],
)
def test_colombian_holidays_are_not_business_days(holiday: date) -> None:
    assert not is_business_day(holiday)


def test_weekdays_and_weekends() -> None:
    assert is_business_day(date(2025, 1, 7))  # Tuesday
    assert not is_business_day(date(2025, 1, 4))  # Saturday
    assert not is_business_day(date(2025, 1, 5))  # Sunday


def test_next_business_day() -> None:
    assert next_business_day(date(2025, 1, 7)) == date(2025, 1, 7)
    assert next_business_day(date(2025, 1, 4)) == date(2025, 1, 7)  # Sat → Sun → holiday Mon → Tue
    assert next_business_day(date(2025, 4, 17)) == date(2025, 4, 21)  # Semana Santa


@pytest.mark.parametrize(
    ("day", "months", "anchor", "expected"),
    [
        (date(2025, 1, 31), 1, None, date(2025, 2, 28)),
        (date(2024, 1, 31), 1, None, date(2024, 2, 29)),
        (date(2025, 2, 28), 1, 31, date(2025, 3, 31)),
        (date(2025, 2, 28), 1, None, date(2025, 3, 28)),
        (date(2025, 11, 15), 2, None, date(2026, 1, 15)),
        (date(2025, 1, 15), -1, None, date(2024, 12, 15)),
        (date(2025, 3, 31), -1, None, date(2025, 2, 28)),
        (date(2025, 1, 31), 12, None, date(2026, 1, 31)),
    ],
)
def test_add_months_clamps_to_month_end(day: date, months: int, anchor: int | None, expected: date) -> None:
    assert add_months(day, months, anchor_day=anchor) == expected


def test_monthly_due_dates_keep_the_anchor_day() -> None:
    assert monthly_due_dates(date(2025, 1, 31), 4) == [
        date(2025, 1, 31),
        date(2025, 2, 28),
        date(2025, 3, 31),
        date(2025, 4, 30),
    ]
    assert monthly_due_dates(date(2025, 1, 31), 0) == []


def test_due_on_holiday_weekend_is_payable_next_business_day() -> None:
    due = date(2025, 1, 4)  # Saturday before Reyes Magos Monday
    assert payable_without_late_interest_until(due) == date(2025, 1, 7)
    assert days_late(due, date(2025, 1, 7)) == 0
    assert days_late(due, date(2025, 1, 8)) == 4  # counted from the due date itself


def test_days_late_on_a_business_day_due() -> None:
    due = date(2025, 1, 15)  # Wednesday
    assert days_late(due, date(2025, 1, 10)) == 0
    assert days_late(due, due) == 0
    assert days_late(due, date(2025, 1, 16)) == 1
    assert days_late(due, date(2025, 2, 14)) == 30
