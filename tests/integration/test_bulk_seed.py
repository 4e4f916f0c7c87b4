"""db.bulk_seed: synthetic members loaded with COPY keep every ledger and product invariant.

Runs on its own database `zona_test_bulk_<pid>`, created on the server of DATABASE_URL
(default postgresql://postgres@127.0.0.1:5432/postgres), migrated, and dropped afterwards.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import date
from decimal import Decimal

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

pytestmark = pytest.mark.integration

DEFAULT_SERVER_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
FIRST_TODAY = date(2026, 11, 25)
SECOND_TODAY = date(2026, 3, 3)  # before the 5th: this month's payroll is not due yet


def _url(base: str, dbname: str) -> str:
    base = base.replace("postgresql+psycopg://", "postgresql://", 1)
    return make_url(base).set(database=dbname).render_as_string(hide_password=False)


@pytest.fixture(scope="module")
def bulk_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from db.engine import reset_engine
    from db.migrate import upgrade_head
    from zona_privada.settings import reset_settings_cache

    server = os.environ.get("DATABASE_URL") or DEFAULT_SERVER_URL
    name = f"zona_test_bulk_{os.getpid()}"
    url = _url(server, name)
    with psycopg.connect(_url(server, "postgres"), autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    patch = pytest.MonkeyPatch()
    patch.setenv("DATABASE_URL", url)
    patch.setenv("REDIS_URL", os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0")
    if not os.environ.get("ZONA_STATE_DIR"):
        patch.setenv("ZONA_STATE_DIR", str(tmp_path_factory.mktemp("zona-state")))
    reset_settings_cache()
    reset_engine()
    try:
        upgrade_head()
        yield url
    finally:
        reset_engine()
        patch.undo()
        reset_settings_cache()
        with psycopg.connect(_url(server, "postgres"), autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="module")
def loaded(bulk_db: str) -> dict[str, int]:
    """200 members through the single-process path."""
    from db.bulk_seed import load_synthetic_members

    return load_synthetic_members(200, seed=1, today=FIRST_TODAY, progress=lambda _line: None)


def _one(url: str, query: str, *params: object) -> object:
    with psycopg.connect(url) as conn:
        row = conn.execute(query, params or None).fetchone()
    assert row is not None
    return row[0] if len(row) == 1 else row


def _all(url: str, query: str, *params: object) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(query, params or None).fetchall()


TABLE_COUNTS = (
    "members", "credentials", "ledger_accounts", "obligations", "loans", "installments", "savings_accounts",
    "payroll_discounts", "journal_entries", "journal_lines",
)


def _counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        counts = {t: conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(t))).fetchone()[0]
                  for t in TABLE_COUNTS}
        # The cooperative's own accounts (db.chart) are not per-member rows.
        counts["ledger_accounts"] = conn.execute(
            "SELECT count(*) FROM ledger_accounts WHERE member_id IS NOT NULL").fetchone()[0]
        return counts


def check_invariants(url: str, members: int) -> None:
    """Everything the loader promises, over the whole database."""
    assert _one(url, "SELECT count(*) FROM members") == members
    assert _one(url, "SELECT count(*) FROM savings_accounts") == 2 * members
    # Both dues obligations, 12 installments each; both savings products, one GMF exempt.
    assert _one(url, """
        SELECT count(*) FROM members m WHERE
          (SELECT count(*) FROM obligations o WHERE o.member_id = m.id AND o.kind = 'aportes') <> 1
          OR (SELECT count(*) FROM obligations o WHERE o.member_id = m.id AND o.kind = 'ahorro_permanente') <> 1
          OR (SELECT count(*) FROM savings_accounts s WHERE s.member_id = m.id AND s.product = 'rentadiario'
              AND s.gmf_exempt) <> 1
          OR (SELECT count(*) FROM savings_accounts s WHERE s.member_id = m.id AND s.product = 'rentahorrito'
              AND NOT s.gmf_exempt) <> 1
          OR (SELECT count(*) FROM obligations o WHERE o.member_id = m.id AND o.kind = 'credito') > 2
    """) == 0
    assert _one(url, """
        SELECT count(*) FROM obligations o WHERE o.kind IN ('aportes', 'ahorro_permanente')
           AND (SELECT count(*) FROM installments i WHERE i.obligation_id = o.id) <> 12
    """) == 0
    # Every savings account has its own ledger account of the member.
    assert _one(url, """
        SELECT count(*) FROM savings_accounts s JOIN ledger_accounts a ON a.id = s.ledger_account_id
         WHERE a.member_id IS DISTINCT FROM s.member_id OR a.cuif_code <> '210505'
    """) == 0
    assert _one(url, "SELECT count(DISTINCT ledger_account_id) FROM savings_accounts") == 2 * members
    # Credentials force the first access; no password.
    assert _one(url, "SELECT count(*) FROM credentials WHERE must_change AND password_hash IS NULL") == members
    # Documents are unique (the constraint holds) and in the synthetic range.
    assert _one(url, "SELECT count(DISTINCT document_number) FROM members") == members

    # The ledger: globally balanced, every entry has >= 2 lines and balances.
    debits, credits = _one(url, "SELECT sum(debit), sum(credit) FROM journal_lines")
    assert debits == credits and debits > 0
    assert _one(url, """
        SELECT count(*) FROM journal_entries e
          LEFT JOIN (SELECT entry_id, count(*) n, sum(debit) d, sum(credit) c FROM journal_lines GROUP BY entry_id) l
            ON l.entry_id = e.id
         WHERE l.n IS NULL OR l.n < 2 OR l.d <> l.c
    """) == 0
    # Savings balances (from lines) respect each account's minimum.
    assert _one(url, """
        SELECT count(*) FROM savings_accounts s
          LEFT JOIN (SELECT ledger_account_id, sum(credit) - sum(debit) AS balance FROM journal_lines
                      GROUP BY ledger_account_id) b ON b.ledger_account_id = s.ledger_account_id
         WHERE coalesce(b.balance, 0) < s.minimum_balance
    """) == 0
    # Installments: paid within billed, component by component.
    assert _one(url, """
        SELECT count(*) FROM installments WHERE NOT (
            paid_principal BETWEEN 0 AND principal AND paid_interest BETWEEN 0 AND interest
            AND paid_fees BETWEEN 0 AND fees AND paid_late_interest BETWEEN 0 AND late_interest)
    """) == 0
    # Loans: the schedule's principal adds up to the amount; one installment per month of the term.
    assert _one(url, """
        SELECT count(*) FROM loans l
          JOIN obligations o ON o.id = l.obligation_id
          JOIN (SELECT obligation_id, sum(principal) p, count(*) n, min(number) first_n FROM installments
                 GROUP BY obligation_id) i ON i.obligation_id = l.obligation_id
         WHERE i.p <> l.amount OR i.n <> l.term_months OR o.kind <> 'credito'
    """) == 0
    assert _one(url, """
        SELECT count(*) FROM obligations o JOIN installments i ON i.obligation_id = o.id AND i.number = 1
         WHERE o.kind = 'credito' AND o.installment_amount <> i.principal + i.interest + i.fees
    """) == 0
    # What the installments say was paid is exactly what the ledger credited:
    # principal to each obligation's account (a loan's receivable also got its disbursement debit) ...
    assert _one(url, """
        SELECT count(*) FROM obligations o
          JOIN (SELECT obligation_id, sum(paid_principal) paid FROM installments GROUP BY obligation_id) i
            ON i.obligation_id = o.id
          LEFT JOIN (SELECT ledger_account_id, sum(credit) c FROM journal_lines GROUP BY ledger_account_id) l
            ON l.ledger_account_id = o.ledger_account_id
         WHERE coalesce(l.c, 0) <> i.paid
    """) == 0
    assert _one(url, """
        SELECT count(*) FROM loans l
          JOIN obligations o ON o.id = l.obligation_id
          JOIN (SELECT ledger_account_id, sum(debit) d FROM journal_lines GROUP BY ledger_account_id) j
            ON j.ledger_account_id = o.ledger_account_id
         WHERE j.d <> l.amount
    """) == 0
    # ... interest to interest income, insurance to insurance payable.
    paid_interest, paid_fees = _one(url, "SELECT sum(paid_interest), sum(paid_fees) FROM installments")
    credited_interest = _one(url, """
        SELECT coalesce(sum(l.credit), 0) FROM journal_lines l JOIN ledger_accounts a ON a.id = l.ledger_account_id
         WHERE a.code = 'COOP-415005'""")
    credited_fees = _one(url, """
        SELECT coalesce(sum(l.credit), 0) FROM journal_lines l JOIN ledger_accounts a ON a.id = l.ledger_account_id
         WHERE a.code = 'COOP-246505'""")
    assert paid_interest == credited_interest and paid_fees == credited_fees
    # Every payroll collection is money the banks account received.
    assert _one(url, """
        SELECT count(*) FROM journal_entries e
         WHERE e.kind = 'payroll_collection' AND NOT EXISTS (
               SELECT 1 FROM journal_lines l JOIN ledger_accounts a ON a.id = l.ledger_account_id
                WHERE l.entry_id = e.id AND a.code = 'COOP-111005' AND l.debit > 0)
    """) == 0
    # ONE payroll-collection entry per member and month, for 12 months.
    assert _one(url, """
        SELECT count(*) FROM members m WHERE (
            SELECT count(DISTINCT l.entry_id) FROM journal_lines l
              JOIN journal_entries e ON e.id = l.entry_id AND e.kind = 'payroll_collection'
              JOIN obligations o ON o.ledger_account_id = l.ledger_account_id AND o.kind = 'ahorro_permanente'
             WHERE o.member_id = m.id) <> 12
    """) == 0
    # Payroll discounts for the period: at least aportes and ahorro permanente per member.
    assert _one(url, """
        SELECT count(*) FROM members m WHERE (SELECT count(*) FROM payroll_discounts p WHERE p.member_id = m.id) < 2
    """) == 0
    # The ledger guards were never switched off.
    assert _one(url, """
        SELECT count(*) FROM pg_trigger WHERE tgname IN ('journal_entry_balanced', 'journal_lines_only_in_entry_txn')
           AND tgenabled = 'O'""") == 2


def test_load_200_members(bulk_db: str, loaded: dict[str, int]) -> None:
    assert loaded["members"] == 200
    assert loaded["savings_accounts"] == 400
    assert loaded["credentials"] == 200
    assert _counts(bulk_db) == {t: loaded[t] for t in TABLE_COUNTS}
    check_invariants(bulk_db, 200)
    # "Most paid": the large majority of due dues installments carry their payment.
    paid, due = _one(bulk_db, """
        SELECT count(*) FILTER (WHERE paid_principal = principal), count(*) FROM installments i
          JOIN obligations o ON o.id = i.obligation_id WHERE o.kind = 'aportes'""")
    assert paid / due > 0.9 and paid < due
    # There are loans, and members with 0, 1 and 2 of them.
    loans_per_member = {n for (n,) in _all(bulk_db, """
        SELECT count(o.id) FROM members m LEFT JOIN obligations o ON o.member_id = m.id AND o.kind = 'credito'
         GROUP BY m.id""")}
    assert loans_per_member == {0, 1, 2}
    terms = {n for (n,) in _all(bulk_db, "SELECT term_months FROM loans")}
    assert min(terms) >= 12 and max(terms) <= 60


def test_entries_cannot_be_extended_later(bulk_db: str, loaded: dict[str, int]) -> None:
    """The statement trigger was on during the load: a later line on a loaded entry is refused."""
    entry_id, account_id = _one(bulk_db, "SELECT entry_id, ledger_account_id FROM journal_lines ORDER BY id LIMIT 1")
    with psycopg.connect(bulk_db) as conn, pytest.raises(psycopg.errors.CheckViolation):
        conn.execute(
            "INSERT INTO journal_lines (entry_id, ledger_account_id, debit, credit) VALUES (%s, %s, 1, 0)",
            (entry_id, account_id),
        )


def test_loading_twice_adds_members_without_collisions(bulk_db: str, loaded: dict[str, int]) -> None:
    from db.bulk_seed import load_synthetic_members

    before = _counts(bulk_db)
    lines: list[str] = []
    # Same seed (same names and amounts), another day, through the multi-process path.
    again = load_synthetic_members(200, seed=1, today=SECOND_TODAY, progress=lines.append, batch_size=60, workers=2)
    assert any("rows in" in line for line in lines)
    after = _counts(bulk_db)
    assert {t: after[t] - before[t] for t in TABLE_COUNTS} == {t: again[t] for t in TABLE_COUNTS}
    assert after["members"] == 400
    check_invariants(bulk_db, 400)
    documents = _all(bulk_db, "SELECT document_number FROM members ORDER BY id")
    assert all(int(d) >= 9_000_000_000 for (d,) in documents)
    assert Decimal(_one(bulk_db, "SELECT count(*) FROM payroll_discounts WHERE period = %s", SECOND_TODAY.replace(day=1))) > 0
