"""PostgreSQL itself refuses an unbalanced or edited ledger (migration 0002).
Raw SQL on purpose: the guard must hold whatever code writes to the tables."""
from __future__ import annotations

from decimal import Decimal

import psycopg
import pytest
from sqlalchemy import text

from db import chart
from db.engine import get_engine, session_scope
from db.ledger import UnbalancedEntry, balance, credit, debit, post_entry, reverse_entry, trial_balance

pytestmark = pytest.mark.integration


@pytest.fixture
def accounts(clean_db: str) -> tuple[int, int]:
    with session_scope() as session:
        chart.ensure_chart(session)
        ids = chart.coop_account_ids(session)
    return ids["banks"], ids["interest_income"]


def raw(database_url: str) -> psycopg.Connection:
    return psycopg.connect(database_url.replace("postgresql+psycopg://", "postgresql://"))


def insert_entry(cur: psycopg.Cursor, lines: list[tuple[int, str, str]]) -> int:
    cur.execute("INSERT INTO journal_entries (kind, description) VALUES ('test', 'raw') RETURNING id")
    entry_id = cur.fetchone()[0]
    for account, dr, cr in lines:
        cur.execute(
            "INSERT INTO journal_lines (entry_id, ledger_account_id, debit, credit) VALUES (%s, %s, %s, %s)",
            (entry_id, account, dr, cr),
        )
    return entry_id


def entry_count(database_url: str) -> int:
    with raw(database_url) as conn:
        return conn.execute("SELECT count(*) FROM journal_entries").fetchone()[0]


def test_balanced_entry_commits(accounts: tuple[int, int], database_url: str) -> None:
    bank, income = accounts
    with raw(database_url) as conn, conn.cursor() as cur:
        insert_entry(cur, [(bank, "100.00", "0"), (income, "0", "100.00")])
    assert entry_count(database_url) == 1


def test_unbalanced_entry_is_refused_at_commit(accounts: tuple[int, int], database_url: str) -> None:
    bank, income = accounts
    conn = raw(database_url)
    with conn.cursor() as cur:
        insert_entry(cur, [(bank, "100.00", "0"), (income, "0", "99.99")])  # accepted until COMMIT
    with pytest.raises(psycopg.errors.CheckViolation, match="unbalanced"):
        conn.commit()
    conn.close()
    assert entry_count(database_url) == 0


def test_single_line_and_empty_entries_are_refused(accounts: tuple[int, int], database_url: str) -> None:
    bank, _ = accounts
    for lines in ([(bank, "50.00", "0")], []):
        conn = raw(database_url)
        with conn.cursor() as cur:
            insert_entry(cur, lines)
        with pytest.raises(psycopg.errors.CheckViolation, match="at least two"):
            conn.commit()
        conn.close()
    assert entry_count(database_url) == 0


def test_line_with_both_sides_or_negative_is_refused(accounts: tuple[int, int], database_url: str) -> None:
    bank, income = accounts
    for bad in (("10.00", "10.00"), ("-10.00", "0"), ("0", "0")):
        with raw(database_url) as conn, conn.cursor() as cur, pytest.raises(psycopg.errors.CheckViolation):
            insert_entry(cur, [(bank, *bad), (income, "0", "10.00")])


def test_update_and_delete_of_posted_lines_are_refused(accounts: tuple[int, int], database_url: str) -> None:
    bank, income = accounts
    with raw(database_url) as conn, conn.cursor() as cur:
        entry_id = insert_entry(cur, [(bank, "100.00", "0"), (income, "0", "100.00")])
    for statement in (
        "UPDATE journal_lines SET debit = 1000 WHERE entry_id = %s AND debit > 0",
        "DELETE FROM journal_lines WHERE entry_id = %s",
        "UPDATE journal_entries SET description = 'edited' WHERE id = %s",
        "DELETE FROM journal_entries WHERE id = %s",
    ):
        with raw(database_url) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            conn.execute(statement, (entry_id,))
    with raw(database_url) as conn:
        assert conn.execute("SELECT sum(debit), sum(credit) FROM journal_lines").fetchone() == (
            Decimal("100.00"), Decimal("100.00"),
        )


def test_lines_cannot_be_added_to_an_entry_posted_earlier(accounts: tuple[int, int], database_url: str) -> None:
    bank, income = accounts
    with raw(database_url) as conn, conn.cursor() as cur:
        entry_id = insert_entry(cur, [(bank, "100.00", "0"), (income, "0", "100.00")])
    with raw(database_url) as conn, pytest.raises(psycopg.errors.CheckViolation, match="already posted"):
        # Even a balanced pair: the posted entry is closed.
        conn.execute(
            "INSERT INTO journal_lines (entry_id, ledger_account_id, debit, credit) VALUES (%s, %s, 5, 0), (%s, %s, 0, 5)",
            (entry_id, bank, entry_id, income),
        )


def test_post_entry_balances_and_reversal(accounts: tuple[int, int]) -> None:
    bank, income = accounts
    with session_scope() as session:
        entry_id = post_entry(
            session, kind="test", description="cobro", postings=[debit(bank, Decimal("250")), credit(income, Decimal("250"))]
        )
    with session_scope() as session:
        assert balance(session, bank) == Decimal("250.00")  # debit-natured: grows with debits
        assert balance(session, income) == Decimal("250.00")  # credit-natured: grows with credits
        reverse_entry(session, entry_id, description="reverso")
    with session_scope() as session:
        assert balance(session, bank) == Decimal("0.00")
        assert trial_balance(session) == (Decimal("250.00") * 2, Decimal("250.00") * 2)
    with pytest.raises(UnbalancedEntry), session_scope() as session:
        post_entry(session, kind="test", description="x", postings=[debit(bank, Decimal("1")), credit(income, Decimal("2"))])


def test_orm_path_is_also_checked_at_commit(accounts: tuple[int, int]) -> None:
    """Bypassing post_entry's own check still cannot commit an unbalanced entry."""
    bank, income = accounts
    with pytest.raises(Exception, match="unbalanced"):
        with session_scope() as session:
            entry = session.execute(
                text("INSERT INTO journal_entries (kind, description) VALUES ('t', 'orm') RETURNING id")
            ).scalar_one()
            session.execute(
                text("INSERT INTO journal_lines (entry_id, ledger_account_id, debit, credit) VALUES (:e, :a, 7, 0), (:e, :b, 0, 6)"),
                {"e": entry, "a": bank, "b": income},
            )
    with get_engine().connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM journal_entries")).scalar_one() == 0


def test_entry_txid_cannot_be_forged_to_add_lines_later(accounts: tuple[int, int], database_url: str) -> None:
    """A client writing another transaction's id into created_txid gains nothing: the
    server overwrites it, so lines added in a later transaction are still refused."""
    bank, income = accounts
    with raw(database_url) as conn:
        future_txid = conn.execute("SELECT txid_current() + 1").fetchone()[0]
        entry_id = conn.execute(
            "INSERT INTO journal_entries (kind, description, created_txid) VALUES ('t', 'forged', %s) RETURNING id",
            (future_txid,),
        ).fetchone()[0]
        conn.execute(
            "INSERT INTO journal_lines (entry_id, ledger_account_id, debit, credit) VALUES (%s, %s, 1, 0), (%s, %s, 0, 1)",
            (entry_id, bank, entry_id, income),
        )
    with raw(database_url) as conn, pytest.raises(psycopg.errors.CheckViolation, match="already posted"):
        conn.execute(
            "INSERT INTO journal_lines (entry_id, ledger_account_id, debit, credit) VALUES (%s, %s, 5, 0), (%s, %s, 0, 5)",
            (entry_id, bank, entry_id, income),
        )
