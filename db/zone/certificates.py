"""The figures the certificates state, all from the ledger through the statement: the
balances at a date, the contributions, a tax year (interest, GMF, year-end balances),
and whether the member owes anything (paz y salvo)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.orm import Session

from domain.statement_period import EARLIEST, Period

from .. import chart
from .statement import ProductStatement, Statement, build_statement

ZERO = Decimal("0.00")
# Groups whose balance the member owes the cooperative; the rest is the member's money.
OWED_GROUPS = frozenset({"Créditos", "Tarjetas", "Otras Obligaciones"})
# Interest the cooperative pays on deposits is booked to CUIF group 6150 (intereses de
# depósitos); whatever sub-account a posting uses, the group says what it is.
DEPOSIT_INTEREST_CUIF_PREFIX = "6150"


def balances_at(session: Session, member_id: int, day: date, today: date) -> Statement:
    """Every product's balance at the end of `day` (Bogotá): a statement from the first
    ledger day, whose closings are the balances."""
    return build_statement(session, member_id, Period(EARLIEST, day), today)


def contributions(statement: Statement) -> list[ProductStatement]:
    return [p for p in statement.products if p.product.group == "Aportes"]


@dataclass(frozen=True, slots=True)
class Debt:
    product: ProductStatement
    amount: Decimal  # balance owed, or what is overdue on a contribution


def debts(statement: Statement) -> list[Debt]:
    """What stands between the member and a paz y salvo: any balance on a loan, card or
    other obligation, and anything overdue on any product."""
    out: list[Debt] = []
    for p in statement.products:
        owed = p.closing if p.product.group in OWED_GROUPS else ZERO
        owed = max(owed, p.overdue)
        if owed > 0:
            out.append(Debt(p, owed))
    return out


@dataclass(frozen=True, slots=True)
class TaxYear:
    year: int
    interest_paid_on_loans: Decimal
    interest_earned_on_deposits: Decimal
    gmf_withheld: Decimal
    year_end: Statement


# The cooperative-side lines of every entry that touched one of the member's accounts in
# the year: interest income, GMF payable and deposit interest are not per-member accounts,
# so the member's share is what their own entries booked there (reversals net out).
_TAX_SQL = text("""
    SELECT a.cuif_code, COALESCE(SUM(l.debit), 0), COALESCE(SUM(l.credit), 0)
    FROM journal_lines l
    JOIN ledger_accounts a ON a.id = l.ledger_account_id AND a.member_id IS NULL
    WHERE l.entry_id IN (
        SELECT DISTINCT ml.entry_id FROM journal_lines ml
        JOIN journal_entries e ON e.id = ml.entry_id
        WHERE ml.ledger_account_id = ANY(:ids) AND e.posted_at >= :start AND e.posted_at < :end)
    GROUP BY a.cuif_code""")


def tax_year(session: Session, member_id: int, year: int, today: date) -> TaxYear:
    year_end = balances_at(session, member_id, date(year, 12, 31), today)
    ids = [p.product.ledger_account_id for p in year_end.products]
    start, end = Period(date(year, 1, 1), date(year, 12, 31)).utc_bounds()
    rows = session.execute(_TAX_SQL, {"ids": ids, "start": start, "end": end}).all() if ids else []
    interest_paid = gmf = earned = ZERO
    for cuif_code, debits, credits in rows:
        if cuif_code == chart.INTEREST_INCOME.cuif_code:
            interest_paid += Decimal(credits) - Decimal(debits)
        elif cuif_code == chart.GMF_PAYABLE.cuif_code:
            gmf += Decimal(credits) - Decimal(debits)
        elif cuif_code.startswith(DEPOSIT_INTEREST_CUIF_PREFIX):
            earned += Decimal(debits) - Decimal(credits)
    return TaxYear(year, interest_paid, earned, gmf, year_end)
