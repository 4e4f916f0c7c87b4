"""Posting journal entries and deriving balances from posted lines.

`post_entry` is the one way money moves. PostgreSQL re-checks every entry at commit
(migration 0002), so even raw SQL cannot leave the ledger unbalanced.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from domain.money import to_money

from .models import JournalEntry, JournalLine, LedgerAccount, Nature

ZERO = Decimal("0")


class UnbalancedEntry(ValueError):
    """Raised before touching the database; PostgreSQL would refuse it at commit anyway."""


@dataclass(frozen=True, slots=True)
class Posting:
    ledger_account_id: int
    debit: Decimal = ZERO
    credit: Decimal = ZERO


def debit(account_id: int, amount: Decimal) -> Posting:
    return Posting(account_id, debit=to_money(amount))


def credit(account_id: int, amount: Decimal) -> Posting:
    return Posting(account_id, credit=to_money(amount))


def check_balanced(postings: Sequence[Posting]) -> None:
    live = [p for p in postings if p.debit or p.credit]
    if len(live) < 2:
        raise UnbalancedEntry("a journal entry needs at least two lines")
    for p in live:
        if p.debit < 0 or p.credit < 0 or (p.debit and p.credit):
            raise UnbalancedEntry(f"line for account {p.ledger_account_id} must be one positive side")
    total_debit = sum((p.debit for p in live), ZERO)
    total_credit = sum((p.credit for p in live), ZERO)
    if total_debit != total_credit:
        raise UnbalancedEntry(f"debits {total_debit} != credits {total_credit}")


def post_entry(
    session: Session,
    *,
    kind: str,
    description: str,
    postings: Sequence[Posting],
    payment_intent_id: int | None = None,
    reversal_of_id: int | None = None,
) -> int:
    """Post one balanced entry in the caller's transaction; returns the entry id.

    Zero postings are dropped (an allocation may leave a component at zero).
    """
    check_balanced(postings)
    live = [p for p in postings if p.debit or p.credit]
    # One round trip: the entry and its lines in one statement (a payment's hot path).
    return session.execute(_POST_ENTRY_SQL, {
        "kind": kind, "description": description[:200], "intent": payment_intent_id, "reversal_of": reversal_of_id,
        "accounts": [p.ledger_account_id for p in live], "debits": [p.debit for p in live],
        "credits": [p.credit for p in live],
    }).scalar_one()


_POST_ENTRY_SQL = text("""
    WITH entry AS (
        INSERT INTO journal_entries (kind, description, payment_intent_id, reversal_of_id)
        VALUES (:kind, :description, :intent, :reversal_of) RETURNING id
    ), posted AS (
        INSERT INTO journal_lines (entry_id, ledger_account_id, debit, credit)
        SELECT entry.id, l.account, l.debit, l.credit
        FROM entry, unnest(CAST(:accounts AS integer[]), CAST(:debits AS numeric[]), CAST(:credits AS numeric[]))
             WITH ORDINALITY AS l(account, debit, credit, n)
        ORDER BY l.n
    )
    SELECT id FROM entry""")


def reverse_entry(session: Session, entry_id: int, *, description: str) -> int:
    """A reversal is a new entry with every line's sides swapped, never an edit."""
    lines = session.execute(
        select(JournalLine.ledger_account_id, JournalLine.debit, JournalLine.credit).where(
            JournalLine.entry_id == entry_id
        )
    ).all()
    original = session.get(JournalEntry, entry_id)
    assert original is not None, f"no journal entry {entry_id}"
    return post_entry(
        session,
        kind="reversal",
        description=description,
        postings=[Posting(acc, debit=cr, credit=dr) for acc, dr, cr in lines],
        payment_intent_id=original.payment_intent_id,
        reversal_of_id=entry_id,
    )


def signed_balance_expr(nature_col, debit_sum, credit_sum):  # noqa: ANN001, ANN201
    """Balance in the account's own sense: debit-natured accounts grow with debits."""
    from sqlalchemy import case

    return case((nature_col == Nature.DEBIT, debit_sum - credit_sum), else_=credit_sum - debit_sum)


def balances(session: Session, account_ids: Iterable[int]) -> dict[int, Decimal]:
    """Balances of the given ledger accounts, summed from their posted lines."""
    ids = list(account_ids)
    if not ids:
        return {}
    debit_sum = func.coalesce(func.sum(JournalLine.debit), 0)
    credit_sum = func.coalesce(func.sum(JournalLine.credit), 0)
    rows = session.execute(
        select(LedgerAccount.id, signed_balance_expr(LedgerAccount.nature, debit_sum, credit_sum))
        .outerjoin(JournalLine, JournalLine.ledger_account_id == LedgerAccount.id)
        .where(LedgerAccount.id.in_(ids))
        .group_by(LedgerAccount.id, LedgerAccount.nature)
    ).all()
    return {account_id: to_money(balance) for account_id, balance in rows}


def balance(session: Session, account_id: int) -> Decimal:
    return balances(session, [account_id]).get(account_id, ZERO)


def trial_balance(session: Session) -> tuple[Decimal, Decimal]:
    """(total debits, total credits) over the whole ledger: they are always equal."""
    row = session.execute(
        select(func.coalesce(func.sum(JournalLine.debit), 0), func.coalesce(func.sum(JournalLine.credit), 0))
    ).one()
    return to_money(row[0]), to_money(row[1])
