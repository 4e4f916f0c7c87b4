"""CPU per payment on the hot path, in one process: what "Finalizar" writes
(`create_intent`) and what the worker runs (`apply_intent`), each in its own transaction,
timed one after another on real PostgreSQL (no Celery, no HTTP: those are in
bench_payments.py). The figure to watch when making the hot path cheaper.

    .venv/bin/python bench/bench_payment_cpu.py                 # 600 payments
    .venv/bin/python bench/bench_payment_cpu.py --profile 25    # plus cProfile's top 25 of apply

Prints, per step: wall and process-CPU milliseconds per payment (p50 and mean) and the
statements sent to PostgreSQL per payment. Creates and drops the database
`zona_bench_cpu` on the server of DATABASE_URL (default the local 127.0.0.1:5432).
"""
from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import bench_payments as bp  # noqa: E402

DB_NAME = "zona_bench_cpu"


class StatementCounter:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self, *_args: object) -> None:
        self.count += 1


def summarize(name: str, wall: list[float], cpu: list[float], statements: list[int]) -> None:
    bp.log(f"  {name:<14} wall p50 {statistics.median(wall):6.2f} ms  mean {statistics.fmean(wall):6.2f} ms | "
           f"CPU p50 {statistics.median(cpu):6.2f} ms  mean {statistics.fmean(cpu):6.2f} ms | "
           f"{statistics.fmean(statements):.1f} statements")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--payments", type=int, default=600)
    p.add_argument("--profile", type=int, default=0, help="print cProfile's top N functions of apply_intent")
    p.add_argument("--keep", action="store_true")
    args = p.parse_args(argv)

    server_url = os.environ.get("DATABASE_URL") or bp.DEFAULT_SERVER_URL
    work = Path(tempfile.mkdtemp(prefix="zona-bench-cpu-"))
    # Redis is not used here; settings want a URL.
    os.environ.update({"ZONA_ENV": "test", "ZONA_STATE_DIR": str(work / "state"),
                       "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15")})
    database_url = bp.create_database(server_url, DB_NAME)
    try:
        bp.point_process_at(database_url)
        from sqlalchemy import event

        from db.engine import get_engine, session_scope
        from db.migrate import upgrade_head
        from db.payments.intents import create_intent
        from db.payments.processing import Outcome, apply_intent

        upgrade_head()
        payers, loaded = bp.load_members(args.payments)
        bp.log(f"bench_payment_cpu: {loaded:,} synthetic members, {len(payers):,} payments "
               f"(one loan line of a small 'Otro valor' from Rentadiario each)")
        counter = StatementCounter()
        event.listen(get_engine(), "before_cursor_execute", counter)

        created: list[int] = []
        wall, cpu, stmts = [], [], []
        for n, payer in enumerate(payers):
            counter.count = 0
            w, c = time.perf_counter(), time.process_time()
            with session_scope() as db:
                intent_id, ok = create_intent(
                    db, member_id=payer.member_id, idempotency_key=f"cpu-bench-{n:08d}", kind="payment",
                    lines=[{"obligation_id": payer.loans[0], "amount": 1000 + n % 500}],
                    funding=[{"savings_account_id": payer.account_id, "amount": 1000 + n % 500}])
            wall.append(1000 * (time.perf_counter() - w))
            cpu.append(1000 * (time.process_time() - c))
            stmts.append(counter.count)
            assert ok
            created.append(intent_id)
        summarize("create_intent", wall, cpu, stmts)

        profiler = cProfile.Profile() if args.profile else None
        wall, cpu, stmts = [], [], []
        outcomes: dict[str, int] = {}
        for intent_id in created:
            counter.count = 0
            w, c = time.perf_counter(), time.process_time()
            if profiler:
                profiler.enable()
            with session_scope() as db:
                result = apply_intent(db, intent_id)
            if profiler:
                profiler.disable()
            wall.append(1000 * (time.perf_counter() - w))
            cpu.append(1000 * (time.process_time() - c))
            stmts.append(counter.count)
            outcomes[result.outcome.value] = outcomes.get(result.outcome.value, 0) + 1
        summarize("apply_intent", wall, cpu, stmts)
        bp.log(f"  outcomes: {outcomes}")
        if outcomes.get(Outcome.APPLIED.value, 0) != len(created):
            bp.log("  WARNING: not every payment was applied")
        if profiler:
            pstats.Stats(profiler).sort_stats(os.environ.get("ZONA_PROFILE_SORT", "cumulative")).print_stats(args.profile)
    finally:
        from db.engine import reset_engine

        reset_engine()
        if not args.keep:
            bp.drop_database(server_url, DB_NAME)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
