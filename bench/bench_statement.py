"""How long a 12-month statement PDF takes to render: the ledger reads
(`build_statement`) plus the PDF (`statement_pdf`, QR included), for the manual's demo
member and for a member with about 1,000 movements in the period. Goal: < 1 s.

    .venv/bin/python bench/bench_statement.py                 # 30 renders each
    .venv/bin/python bench/bench_statement.py --renders 60 --movements 1000

Creates and drops the database `zona_bench_statement` on the server of DATABASE_URL
(default the local 127.0.0.1:5432). Prints p50/p95 wall milliseconds, the PDF's size
and pages.
"""
from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.databases import create_database, drop_database, point_process_at  # noqa: E402

DB_NAME = "zona_bench_statement"
DEMO = "1077227777"
BUSY = "52345678"  # the manual's second member, given the many movements


def _add_movements(document: str, count: int) -> None:
    """`count` deposits and withdrawals on the member's Rentahorrito, as real entries."""
    from sqlalchemy import select

    from db import chart
    from db.engine import session_scope
    from db.enrollment import deposit
    from db.ledger import credit, debit, post_entry
    from db.models import Member, SavingsAccount, SavingsProduct

    with session_scope() as db:
        member_id = db.execute(select(Member.id).where(Member.document_number == document)).scalar_one()
        account = db.execute(select(SavingsAccount).where(
            SavingsAccount.member_id == member_id, SavingsAccount.product == SavingsProduct.RENTAHORRITO)).scalar_one()
        banks = chart.coop_account_id(db, "banks")
        for n in range(count):
            amount = Decimal(1000 + 37 * n)
            if n % 2 == 0:
                deposit(db, account, amount, f"Consignación en oficina No. {n}")
            else:
                post_entry(db, kind="withdrawal", description=f"Retiro por cajero No. {n}",
                           postings=[debit(account.ledger_account_id, amount // 2), credit(banks, amount // 2)])


def _time_renders(document: str, renders: int) -> tuple[list[float], int, int, int]:
    from pypdf import PdfReader
    from sqlalchemy import select

    from db.engine import session_scope
    from db.models import Member
    from db.zone.statement import build_statement
    from domain.bogota_calendar import BOGOTA, bogota_date
    from domain.statement_period import default_period
    from webapp.documents.pdf_layout import Holder, Stamp
    from webapp.documents.pdf_statement import statement_pdf

    today = bogota_date(datetime.now(BOGOTA))
    with session_scope() as db:
        member = db.execute(select(Member).where(Member.document_number == document)).scalar_one()
        member_id, holder = member.id, Holder(member.full_name, f"CC {member.document_number}")
    stamp = Stamp("ZP-BENC-HMAR-K000", "http://127.0.0.1:8000/verificar/ZP-BENC-HMAR-K000",
                  datetime.now(timezone.utc))
    wall_ms: list[float] = []
    content = b""
    movements = 0
    for _ in range(renders):
        started = time.perf_counter()
        with session_scope() as db:
            statement = build_statement(db, member_id, default_period(today), today)
        content = statement_pdf(statement, holder, stamp)
        wall_ms.append((time.perf_counter() - started) * 1000)
        movements = statement.movement_count
    return wall_ms, movements, len(content), len(PdfReader(io.BytesIO(content)).pages)


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[18] if len(values) >= 2 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--renders", type=int, default=30)
    parser.add_argument("--movements", type=int, default=1000)
    args = parser.parse_args()

    point_process_at(create_database(DB_NAME).replace("postgresql://", "postgresql+psycopg://"))
    try:
        from db.migrate import upgrade_head
        from db.seed import seed_demo_members

        upgrade_head()
        seed_demo_members(None)
        _add_movements(BUSY, args.movements)
        from db.engine import reset_engine

        for label, document in (("demo member", DEMO), (f"~{args.movements:,} movements", BUSY)):
            wall, movements, size, pages = _time_renders(document, args.renders)
            print(f"12-month statement PDF, {label}: {movements} movements, {pages} pages, {size / 1024:.0f} KiB; "
                  f"p50 {statistics.median(wall):.0f} ms, p95 {_p95(wall):.0f} ms over {len(wall)} renders")
        reset_engine()
    finally:
        drop_database(DB_NAME)


if __name__ == "__main__":
    main()
