"""Daily accrual of late interest (interés de mora) on overdue loan installments.

Each run charges every overdue installment for the days since its last accrual through
`today` (or through the last day with a certified usury cap, when the next
certification has not been loaded yet: those days are charged by the first run after
it is). The amount is simple interest on the installment's unpaid principal
(domain/rates.late_interest), posted as one balanced entry per installment:

    debit  144305 Intereses de mora por cobrar     credit 415010 Intereses de mora

and added to the installment's `late_interest`, which the allocation pays first.
Idempotent per day: the installment rows are locked, the last accrual re-read under
the lock, and `late_interest_accruals` is unique per installment and day, so a second
run the same day (or a concurrent one) posts nothing.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.orm import Session

from domain.bogota_calendar import days_late
from domain.rates import last_certified_day, late_interest

from . import chart
from .ledger import credit, debit, post_entry
from .usury import usury_table

log = logging.getLogger(__name__)
ZERO = Decimal("0")

# Unpaid principal of installments past due on active loans. The obligations are locked
# too, in id order, as a payment locks them (DESIGN §4 rule 4): a payment that already
# read an installment under its obligation lock is never changed under it, and the two
# can never wait on each other in opposite orders.
_OVERDUE_SQL = text("""
    SELECT i.id, i.number, i.due_date, i.principal - i.paid_principal AS overdue_principal,
           l.late_ea_rate, o.number AS obligation_number
      FROM installments i
      JOIN obligations o ON o.id = i.obligation_id
      JOIN loans l ON l.obligation_id = o.id
     WHERE o.status = 'active' AND i.due_date < :today AND i.paid_principal < i.principal
     ORDER BY o.id, i.id
       FOR NO KEY UPDATE OF o, i""")

# Read after the lock (a new snapshot under READ COMMITTED): a run that committed while
# this one waited is seen here, and its days are not charged again.
_LAST_ACCRUED_SQL = text("""
    SELECT installment_id, max(accrued_through) FROM late_interest_accruals
     WHERE installment_id = ANY(:ids) GROUP BY installment_id""")

_RECORD_SQL = text("""
    WITH accrual AS (
        INSERT INTO late_interest_accruals
               (installment_id, accrued_through, days, overdue_principal, amount, journal_entry_id)
        VALUES (:installment_id, :through, :days, :principal, :amount, :entry_id)
    )
    UPDATE installments SET late_interest = late_interest + :amount WHERE id = :installment_id""")


@dataclass(frozen=True, slots=True)
class AccrualRun:
    installments: int  # installments charged by this run
    amount: Decimal  # late interest posted by this run
    uncertified_from: date | None  # first day left for later: no certified cap yet


def accrue_late_interest(session: Session, today: date, *, late_ea: Decimal) -> AccrualRun:
    """Charge late interest through `today` (a Bogotá date) at min(`late_ea`, the loan's
    agreed late rate, each day's certified usury cap). Call in one transaction."""
    rows = session.execute(_OVERDUE_SQL, {"today": today}).all()
    rows = [r for r in rows if days_late(r.due_date, today) > 0]  # weekend/holiday grace
    if not rows:
        return AccrualRun(0, ZERO, None)
    last = dict(session.execute(_LAST_ACCRUED_SQL, {"ids": [r.id for r in rows]}).all())
    earliest = min(last.get(r.id, r.due_date) for r in rows) + timedelta(days=1)
    caps = usury_table(session, earliest, today)
    chart.ensure_chart(session)  # the receivable is newer than some charts
    ids = chart.coop_account_ids(session)
    charged, total, uncertified = 0, ZERO, None
    for row in rows:
        first = last.get(row.id, row.due_date) + timedelta(days=1)
        if first > today:
            continue  # already charged through today
        certified_through = last_certified_day(caps, first)
        if certified_through is None or certified_through < today:
            gap = first if certified_through is None else certified_through + timedelta(days=1)
            uncertified = gap if uncertified is None else min(uncertified, gap)
        if certified_through is None:
            continue
        through = min(today, certified_through)
        rate = min(late_ea, row.late_ea_rate)
        amount = late_interest(row.overdue_principal, rate, caps, first, through)
        if amount <= 0:
            continue  # under half a centavo: the days stay open and are charged with the next ones
        entry_id = post_entry(
            session, kind="late_interest",
            description=f"Intereses de mora {row.obligation_number} cuota {row.number} "
                        f"{first:%d/%m/%Y}-{through:%d/%m/%Y}",
            postings=[debit(ids["late_interest_receivable"], amount), credit(ids["late_interest_income"], amount)],
        )
        session.execute(_RECORD_SQL, {
            "installment_id": row.id, "through": through, "days": (through - first).days + 1,
            "principal": row.overdue_principal, "amount": amount, "entry_id": entry_id,
        })
        charged += 1
        total += amount
    if uncertified is not None:
        log.warning("late interest not accrued for days without a certified usury rate",
                    extra={"from_day": uncertified.isoformat(), "today": today.isoformat()})
    return AccrualRun(charged, total, uncertified)
