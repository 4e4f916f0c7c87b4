"""CPU per payment on the hot path, one step at a time on real PostgreSQL: what
"Finalizar" writes (`create_intent`) and what the worker runs (`apply_intent`), each in
its own transaction in this process; optionally the whole "Finalizar" request through
the Flask app (Redis session, CSRF, Celery publish) and the applies run by a real Celery
worker. The open-loop figures are bench_payments.py's; this is the one to watch when
making the hot path cheaper, because it isolates each part.

    .venv/bin/python bench/bench_payment_cpu.py                          # 600 payments
    .venv/bin/python bench/bench_payment_cpu.py --finalizar 200 --celery # web request, real worker
    .venv/bin/python bench/bench_payment_cpu.py --profile 25             # cProfile's top 25

Prints, per step: wall and process-CPU milliseconds per payment (p50 and mean) and the
statements sent to PostgreSQL; for --celery, the CPU of the worker's whole process group
per payment. Creates and drops the database `zona_bench_cpu` on the server of
DATABASE_URL (default the local 127.0.0.1:5432); Redis: REDIS_URL (default the local
6379) with ZONA_REDIS_DB_BASE 4, whose broker database it flushes.
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


class TestClientMember(bp.Member):
    """bench_payments.Member driving the Flask app in this process (test client)
    instead of gunicorn over HTTP: same pages, same forms, same session and CSRF."""

    def __init__(self, app, payer: bp.Payer) -> None:  # noqa: ANN001
        super().__init__("", payer)
        self.client = app.test_client()

    def get(self, path: str):  # noqa: ANN201
        return self.client.get(path)

    def post(self, path: str, pairs: list[tuple[str, str]]):  # noqa: ANN201
        return self.client.post(path, data=bp.form_body(pairs), content_type="application/x-www-form-urlencoded")

    def login(self) -> None:
        super().login()
        self.sid = self.client.get_cookie("zp_sesion").value


def finalizar_phase(payers: list[bp.Payer], profile_top: int) -> None:
    """The web's "Finalizar": POSTed through the whole Flask stack (Redis session, CSRF,
    the intent's transaction, the Celery publish to the real broker), each member's form
    walked to Verificación beforehand and not measured."""
    from webapp import create_app

    app = create_app()
    members = []
    for payer in payers:
        member = TestClientMember(app, payer)
        member.login()
        form = member.prepare(payer.loans[0], 300 + len(members) % 400)
        members.append((member, form))
    profiler = cProfile.Profile(time.process_time) if profile_top else None
    wall, cpu = [], []
    for member, form in members:
        w, c = time.perf_counter(), time.process_time()
        if profiler:
            profiler.enable()
        response = member.client.post("/zona/pagos/finalizar", data=form["body"],
                                      content_type="application/x-www-form-urlencoded")
        if profiler:
            profiler.disable()
        wall.append(1000 * (time.perf_counter() - w))
        cpu.append(1000 * (time.process_time() - c))
        assert response.status_code == 303, (response.status_code, response.text[:300])
    bp.log(f"  Finalizar (web) wall p50 {statistics.median(wall):6.2f} ms  mean {statistics.fmean(wall):6.2f} ms | "
           f"CPU p50 {statistics.median(cpu):6.2f} ms  mean {statistics.fmean(cpu):6.2f} ms | {len(members)} POSTs")
    if profiler:
        stats = pstats.Stats(profiler).sort_stats(os.environ.get("ZONA_PROFILE_SORT", "cumulative"))
        stats.print_stats(profile_top)
        if os.environ.get("ZONA_PROFILE_CALLERS"):
            stats.print_callers(os.environ["ZONA_PROFILE_CALLERS"])


def group_cpu_s(leader_pid: int) -> float:
    """User+system CPU seconds of every live process in the leader's process group."""
    total = 0.0
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and os.getpgid(int(entry)) == leader_pid:
                total += bp.pid_cpu_s(int(entry))
        except (OSError, ProcessLookupError):
            continue
    return total


def postgres_cpu_s() -> float:
    """CPU seconds of every PostgreSQL process alive now (the server's, whichever database)."""
    return sum(bp.pid_cpu_s(pid) for pid in bp.postgres_pids())


def celery_phase(intent_ids: list[int], concurrency: int, pool: str, rate: float | None) -> None:
    """The same applies run by a real Celery worker (prefork, the app's settings): CPU of
    the worker's whole process group per payment, i.e. apply_intent plus everything
    Celery does around it. Nudged as the web nudges (`enqueue_intent`: one message per
    payment with ZONA_APPLY_BATCH=0, coalesced drains otherwise), all at once or paced
    at `rate` per second (a steady flow makes small batches, as in production)."""
    import redis as redis_lib
    from sqlalchemy import text

    from db.engine import session_scope
    from tests.processes import start_worker
    from workers.payment_tasks import enqueue_intent
    from zona_privada.settings import get_settings

    redis_lib.Redis.from_url(get_settings().broker_url).flushdb()
    env = dict(os.environ, PYTHONPATH=str(ROOT), ZONA_WORKER_CONCURRENCY=str(concurrency))
    log_dir = Path(tempfile.mkdtemp(prefix="zona-bench-cpu-worker-"))
    # "solo" runs the task in the consumer process itself: `concurrency` such processes.
    workers = ([start_worker(env, log_dir, concurrency=1, pool="solo", name=f"solo{n}") for n in range(concurrency)]
               if pool == "solo" else [start_worker(env, log_dir, concurrency=concurrency, pool=pool)])

    def cpu_s() -> float:
        return sum(group_cpu_s(w.popen.pid) for w in workers)

    try:
        time.sleep(6)  # booted and idle
        before, pg_before, t0 = cpu_s(), postgres_cpu_s(), time.perf_counter()
        for n, intent_id in enumerate(intent_ids):
            if rate:
                time.sleep(max(0.0, t0 + n / rate - time.perf_counter()))
            enqueue_intent(intent_id, "apply")

        def pending() -> int:
            with session_scope() as db:
                return db.execute(text("SELECT count(*) FROM payment_intents WHERE id = ANY(:ids) AND state = 'created'"),
                                  {"ids": intent_ids}).scalar_one()

        while pending() and time.perf_counter() - t0 < 300:
            time.sleep(0.2)
        elapsed, used = time.perf_counter() - t0, cpu_s() - before
        pg_used = postgres_cpu_s() - pg_before
        bp.log(f"  Celery worker  {len(intent_ids)} applies in {elapsed:.1f} s ({len(intent_ids) / elapsed:.0f}/s, "
               f"{pool} x{concurrency}, ZONA_APPLY_BATCH={get_settings().apply_batch}, "
               f"{f'paced at {rate:g}/s' if rate else 'all at once'}) | worker CPU {1000 * used / len(intent_ids):.2f} ms per payment "
               f"(parent + children; includes beat-less idle polling) | PostgreSQL CPU "
               f"{1000 * pg_used / len(intent_ids):.2f} ms per payment")
    finally:
        for worker in workers:
            worker.stop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--payments", type=int, default=600)
    p.add_argument("--profile", type=int, default=0, help="print cProfile's top N functions of apply_intent")
    p.add_argument("--keep", action="store_true")
    p.add_argument("--celery", action="store_true",
                   help="apply half of the payments through a real Celery worker instead, and compare")
    p.add_argument("--worker-concurrency", type=int, default=2)
    p.add_argument("--celery-rate", type=float, default=None,
                   help="with --celery: nudge the payments at this rate per second instead of all at once")
    p.add_argument("--worker-pool", choices=["prefork", "solo", "threads"], default="prefork",
                   help="solo: --worker-concurrency single-process workers")
    p.add_argument("--finalizar", type=int, default=0,
                   help="also POST this many Finalizar through the Flask app in this process (needs Redis)")
    args = p.parse_args(argv)

    server_url = os.environ.get("DATABASE_URL") or bp.DEFAULT_SERVER_URL
    work = Path(tempfile.mkdtemp(prefix="zona-bench-cpu-"))
    # Redis is not used here; settings want a URL.
    os.environ.update({"ZONA_ENV": "test", "ZONA_STATE_DIR": str(work / "state"),
                       "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
                       "ZONA_REDIS_DB_BASE": os.environ.get("ZONA_REDIS_DB_BASE", "4"),
                       "ZONA_LOGIN_IP_LIMIT": "1000000000", "ZONA_LOGIN_STEP_IP_LIMIT": "1000000000"})
    database_url = bp.create_database(server_url, DB_NAME)
    try:
        bp.point_process_at(database_url)
        from sqlalchemy import event

        from db.engine import get_engine, session_scope
        from db.migrate import upgrade_head
        from db.payments.intents import create_intent
        from db.payments.processing import Outcome, apply_intent

        upgrade_head()
        payers, loaded = bp.load_members(args.payments + args.finalizar)
        # Separate members: a Finalizar's intent is "in progress" for its obligation.
        payers, web_payers = payers[: args.payments], payers[args.payments:]
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

        if args.finalizar:
            finalizar_phase(web_payers, args.profile)

        # The worker's half is applied last: a batch drain takes every ready intent.
        for_celery: list[int] = []
        if args.celery:
            half = len(created) // 2
            created, for_celery = created[:half], created[half:]

        profiler = cProfile.Profile(time.process_time) if args.profile else None
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
        if for_celery:
            celery_phase(for_celery, args.worker_concurrency, args.worker_pool, args.celery_rate)
    finally:
        from db.engine import reset_engine

        reset_engine()
        if not args.keep:
            bp.drop_database(server_url, DB_NAME)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
