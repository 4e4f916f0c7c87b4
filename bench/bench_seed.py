"""Benchmark of `zona seed --members N` (db.bulk_seed) on a throwaway database.

    .venv/bin/python bench/bench_seed.py --members 100000

Creates `zona_bench_seed` on the server of DATABASE_URL (default
postgresql://postgres@127.0.0.1:5432/postgres), migrates it, loads N synthetic members,
prints rows/second, total seconds, row counts and pg_database_size, and drops the
database (unless --keep).
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DEFAULT_SERVER_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
BENCH_DB = "zona_bench_seed"


def _libpq_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _with_database(url: str, dbname: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(_libpq_url(url)).set(database=dbname).render_as_string(hide_password=False)


def _admin(url: str) -> psycopg.Connection:
    return psycopg.connect(_with_database(url, "postgres"), autocommit=True)


class CpuSampler:
    """CPU seconds of the loader's PostgreSQL backends (read from /proc when the server is
    local) and of the whole machine, so a figure taken on a busy machine can be judged."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.backends: dict[int, float] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.tick = os.sysconf("SC_CLK_TCK")

    def _machine(self) -> tuple[float, float]:
        with open("/proc/stat") as fh:
            fields = [int(x) for x in fh.readline().split()[1:]]
        idle = fields[3] + fields[4]
        return (sum(fields) - idle) / self.tick, sum(fields) / self.tick

    def _run(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self.stop.wait(0.5):
                pids = [r[0] for r in conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE application_name = 'zona-bulk-seed'").fetchall()]
                for pid in pids:
                    try:
                        with open(f"/proc/{pid}/stat") as fh:
                            parts = fh.read().rsplit(")", 1)[1].split()
                    except OSError:
                        continue
                    self.backends[pid] = (int(parts[11]) + int(parts[12])) / self.tick

    def __enter__(self) -> CpuSampler:
        self.machine0 = self._machine()
        self.self0 = resource.getrusage(resource.RUSAGE_SELF)
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()
        busy1, total1 = self._machine()
        self.machine_busy = busy1 - self.machine0[0]
        self.machine_total = total1 - self.machine0[1]
        me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        self.python = (me.ru_utime + me.ru_stime - self.self0.ru_utime - self.self0.ru_stime
                       + kids.ru_utime + kids.ru_stime)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=None, help="loader processes (default: up to 2)")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--keep", action="store_true", help="do not drop the database afterwards")
    args = parser.parse_args(argv)

    server_url = os.environ.get("DATABASE_URL") or DEFAULT_SERVER_URL
    bench_url = _with_database(server_url, BENCH_DB)
    with _admin(server_url) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(BENCH_DB)))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(BENCH_DB)))

    os.environ["DATABASE_URL"] = bench_url
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
    os.environ.setdefault("ZONA_STATE_DIR", tempfile.mkdtemp(prefix="zona-bench-seed-"))

    from db.engine import get_engine, reset_engine
    from db.migrate import upgrade_head
    from zona_privada.settings import reset_settings_cache

    reset_settings_cache()
    reset_engine()
    try:
        upgrade_head()
        reset_engine()  # the loader starts from a cold pool, as `zona seed` does
        from db.bulk_seed import load_synthetic_members

        kwargs = {}
        if args.workers is not None:
            kwargs["workers"] = args.workers
        if args.batch_size is not None:
            kwargs["batch_size"] = args.batch_size
        with CpuSampler(bench_url) as cpu:
            started = time.perf_counter()
            counts = load_synthetic_members(
                args.members, seed=args.seed, progress=lambda line: print(line, flush=True), **kwargs
            )
            seconds = time.perf_counter() - started
        rows = sum(counts.values())
        with psycopg.connect(bench_url) as conn:
            size = conn.execute("SELECT pg_database_size(current_database()), "
                                "pg_size_pretty(pg_database_size(current_database()))").fetchone()
            members = conn.execute("SELECT count(*) FROM members").fetchone()[0]
        assert size is not None
        print("--- bench_seed ---")
        print(f"members requested     {args.members:,}")
        print(f"members in database   {members:,}")
        for table, count in counts.items():
            print(f"rows {table:<18} {count:>12,}")
        print(f"rows total            {rows:,}")
        print(f"total seconds         {seconds:.1f}")
        print(f"rows/second           {rows / seconds:,.0f}")
        print(f"members/second        {args.members / seconds:,.0f}")
        print(f"pg_database_size      {size[0]:,} bytes ({size[1]})")
        print(f"cpu seconds           loader python {cpu.python:.1f}, its postgres backends "
              f"{sum(cpu.backends.values()):.1f} ({len(cpu.backends)} seen)")
        print(f"machine cpu busy      {cpu.machine_busy:.1f} of {cpu.machine_total:.1f} cpu-seconds "
              f"({os.cpu_count()} cpus); the rest of the busy time is other processes and PostgreSQL's own")
    finally:
        get_engine().dispose()
        reset_engine()
        if not args.keep:
            with _admin(server_url) as admin:
                admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(BENCH_DB)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
