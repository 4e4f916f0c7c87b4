"""Bogotá calendar dates with Colombian holidays (DESIGN §3: due dates are Bogotá dates)."""

from __future__ import annotations

import calendar
from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

BOGOTA = ZoneInfo("America/Bogota")
_SATURDAY = 5


def bogota_date(moment: datetime) -> date:
    """The calendar date in Bogotá at `moment`; a naive datetime is ambiguous, so refused."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("moment must be timezone-aware")
    return moment.astimezone(BOGOTA).date()


@lru_cache(maxsize=64)
def _colombian_holidays(year: int) -> frozenset[date]:
    # Computed, not fetched: the `holidays` package applies Ley 51 de 1983 (Ley Emiliani)
    # itself. Frozen per year so lookups are cheap and safe across threads.
    return frozenset(holidays.country_holidays("CO", years=year).keys())


def is_business_day(day: date) -> bool:
    return day.weekday() < _SATURDAY and day not in _colombian_holidays(day.year)


def next_business_day(day: date) -> date:
    """`day` itself when it is a business day, else the first business day after it."""
    while not is_business_day(day):
        day += timedelta(days=1)
    return day


def add_months(day: date, months: int, *, anchor_day: int | None = None) -> date:
    """`day` moved by `months`, clamped to month end; `anchor_day` restores e.g. the 31st."""
    wanted_day = day.day if anchor_day is None else anchor_day
    if not 1 <= wanted_day <= 31:
        raise ValueError("anchor_day must be between 1 and 31")
    month_index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(month_index, 12)
    last_day = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(wanted_day, last_day))


def monthly_due_dates(first_due: date, count: int) -> list[date]:
    """Nominal due dates; anchored on the first one so Jan 31 → Feb 28 → Mar 31."""
    if count < 0:
        raise ValueError("count cannot be negative")
    return [add_months(first_due, k, anchor_day=first_due.day) for k in range(count)]


def payable_without_late_interest_until(due: date) -> date:
    """A due date on a weekend or holiday may be paid the next business day without penalty."""
    return next_business_day(due)


def days_late(due: date, today: date) -> int:
    """Days in arrears, counted from the due date itself once the grace day has passed."""
    if today <= payable_without_late_interest_until(due):
        return 0
    return (today - due).days


def bogota_month_utc(day: date) -> tuple[datetime, datetime]:
    """The Bogotá calendar month of `day` as a UTC half-open interval [start, end)."""
    from datetime import time, timezone

    start = day.replace(day=1)
    return (datetime.combine(start, time.min, tzinfo=BOGOTA).astimezone(timezone.utc),
            datetime.combine(add_months(start, 1), time.min, tzinfo=BOGOTA).astimezone(timezone.utc))
