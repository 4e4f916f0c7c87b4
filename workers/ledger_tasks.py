"""Daily ledger jobs (issue 9 item 7): late interest accrual and monthly dues.

Thin and idempotent: each opens one session scope and calls one db function with the
Bogotá date of now. Run twice the same day, either posts and bills once (see
db/accruals.py and db/dues.py); a run missed for a day is caught up by the next one.
"""
from __future__ import annotations

import logging
from datetime import date, datetime, timezone

from celery import shared_task

from db.accruals import accrue_late_interest
from db.dues import generate_monthly_dues
from db.engine import session_scope
from domain.bogota_calendar import bogota_date
from zona_privada.settings import get_settings

log = logging.getLogger(__name__)


def _bogota_today(today: str | None) -> date:
    # `today` (ISO date) lets an operator or a test re-run a given day; beat sends none.
    return date.fromisoformat(today) if today else bogota_date(datetime.now(timezone.utc))


@shared_task(name="workers.ledger_tasks.accrue_late_interest", acks_late=True)
def accrue_late_interest_task(today: str | None = None) -> dict[str, str | int | None]:
    day = _bogota_today(today)
    with session_scope() as session:
        run = accrue_late_interest(session, day, late_ea=get_settings().late_interest_ea)
    result = {"day": day.isoformat(), "installments": run.installments, "amount": str(run.amount),
              "uncertified_from": run.uncertified_from.isoformat() if run.uncertified_from else None}
    log.info("late interest accrued", extra=result)
    return result


@shared_task(name="workers.ledger_tasks.generate_monthly_dues", acks_late=True)
def generate_monthly_dues_task(today: str | None = None) -> dict[str, str | int]:
    day = _bogota_today(today)
    with session_scope() as session:
        added = generate_monthly_dues(session, day)
    result = {"day": day.isoformat(), "installments": added}
    log.info("monthly dues generated", extra=result)
    return result
