"""Monthly dues: every active aportes and ahorro permanente obligation keeps being billed.

Each obligation's installments follow its own terms: the amount it was opened with
(`installment_amount`) on the day of the month of its first installment (anchored, so
a 31st falls on the last day of shorter months). The job bills every month due through
one month after `today` (a Bogotá date), which is what the seed bills, so a member
always has a "Próximo vencimiento" after paying everything due. Idempotent per period:
installments are unique per obligation and month (`installments.period`) and per
number, and rows that exist are left as they are.
"""
from __future__ import annotations

from datetime import date

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from domain.bogota_calendar import add_months

from .models import Installment

_DUES_SQL = text("""
    SELECT o.id, o.installment_amount,
           min(i.due_date) FILTER (WHERE i.number = 1) AS first_due, max(i.number) AS last_number
      FROM obligations o
      JOIN installments i ON i.obligation_id = o.id
     WHERE o.kind IN ('aportes', 'ahorro_permanente') AND o.status = 'active'
     GROUP BY o.id, o.installment_amount""")


def due_date_of(first_due: date, number: int) -> date:
    """Installment `number`'s due date (1 is `first_due`), anchored on its day."""
    return add_months(first_due, number - 1, anchor_day=first_due.day)


def generate_monthly_dues(session: Session, today: date) -> int:
    """Bill every month due through one month after `today`; returns installments added."""
    horizon = add_months(today, 1)
    rows: list[dict[str, object]] = []
    for obligation_id, amount, first_due, last_number in session.execute(_DUES_SQL):
        if first_due is None:
            continue  # no first installment to anchor on: opened by hand, billed by hand
        number = last_number + 1
        while (due := due_date_of(first_due, number)) <= horizon:
            rows.append({"obligation_id": obligation_id, "number": number, "due_date": due,
                         "period": due.replace(day=1), "principal": amount})
            number += 1
    if not rows:
        return 0
    # A concurrent run that billed the same months first wins; these rows are dropped.
    result = session.execute(pg_insert(Installment).values(rows).on_conflict_do_nothing().returning(Installment.id))
    return len(result.all())
