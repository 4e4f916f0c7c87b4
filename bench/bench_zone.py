"""Benchmark of the member's zone at scale (issue 11): server time of the pages a member
reads most, with N synthetic members and their history in the database.

    .venv/bin/python bench/bench_zone.py --members 100000

Creates `zona_bench_zone` on the server of DATABASE_URL (default
postgresql://postgres@127.0.0.1:5432/postgres), migrates it, loads N synthetic members
(`zona seed`'s loader), gives a random sample of them the bench key, logs each in
through the real login (document, then the key on the on-screen keyboard), and then
times, in this process, the Flask app answering their requests (the WSGI call, no
network: server time), warm, in a shuffled order of members:

- the dashboard (`/zona/`, header block and products overview);
- every sub-tab of "Mis productos y servicios", a loan's schedule, the first page of a
  savings account's movements, and Mis Datos Personales.

Prints p50/p95/p99 per page (goal p95 < 100 ms) and drops the database (unless --keep;
--reuse skips the load when a kept database is there).
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_payments import (  # noqa: E402 - the same login and database helpers
    BENCH_PASSWORD,
    create_database,
    drop_database,
    field_of,
    form_body,
    free_port,
    keyboard_pairs,
    pct,
    point_process_at,
    wait_until,
    with_database,
)

DEFAULT_SERVER_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
BENCH_DB = "zona_bench_zone"


def log(msg: str = "") -> None:
    print(msg, flush=True)


def _database_exists(server_url: str) -> bool:
    import psycopg

    with psycopg.connect(with_database(server_url, "postgres"), autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (BENCH_DB,)).fetchone() is not None


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def sample_members(n: int, seed: int) -> list[tuple[int, str]]:
    """`n` members drawn at random from all of them, given the bench key."""
    from sqlalchemy import text

    from db.engine import session_scope
    from domain.hashing import hash_secret
    from zona_privada.settings import get_settings

    with session_scope() as db:
        everyone = db.execute(text("SELECT id, document_number FROM members WHERE document_type = 'CC' "
                                   "ORDER BY id")).all()
        chosen = random.Random(seed).sample(list(everyone), min(n, len(everyone)))
        ids = [m for m, _ in chosen]
        db.execute(text(
            "UPDATE credentials SET password_hash = :h, must_change = false, failed_attempts = 0, locked_until = NULL, "
            "security_image = 'colibri', security_phrase = 'Mi cooperativa, mi futuro', password_changed_at = now() "
            "WHERE member_id = ANY(:ids)"), {"h": hash_secret(BENCH_PASSWORD), "ids": ids})
        db.execute(text("UPDATE members SET data_consent_at = now(), data_consent_version = :v WHERE id = ANY(:ids)"),
                   {"v": get_settings().data_consent_version, "ids": ids})
    return [(m, d) for m, d in chosen]


def login(app, document: str):  # noqa: ANN001, ANN201
    """A test client holding a member's session, logged in as a member does."""
    client = app.test_client()
    page = client.get("/ingresar").get_data(as_text=True)
    form = "application/x-www-form-urlencoded"
    r = client.post("/ingresar", data=form_body([("csrf_token", field_of(page, "csrf_token")), ("tipo", "CC"),
                                                 ("documento", document)]), content_type=form)
    if r.status_code != 303:
        raise RuntimeError(f"login step 1 for {document}: {r.status_code}")
    key_page = client.get("/ingresar/clave").get_data(as_text=True)
    r = client.post("/ingresar/clave", data=form_body(keyboard_pairs(key_page, BENCH_PASSWORD)), content_type=form)
    if r.status_code != 303 or "/zona" not in r.headers.get("Location", ""):
        raise RuntimeError(f"login step 2 for {document}: {r.status_code} {r.headers.get('Location')}")
    return client


def pages_of(app, member_id: int) -> dict[str, str]:  # noqa: ANN001
    """The zone's read pages for this member: the dashboard, every sub-tab of "Mis
    productos y servicios", a loan's schedule and a savings account's movements."""
    from flask import url_for
    from sqlalchemy import text

    from db.engine import session_scope
    from webapp.zone.frame import PRODUCT_SUBTABS

    with app.test_request_context(), session_scope() as db:
        account = db.execute(text("SELECT id FROM savings_accounts WHERE member_id = :m ORDER BY id LIMIT 1"),
                             {"m": member_id}).scalar()
        loan = db.execute(text("SELECT id FROM obligations WHERE member_id = :m AND kind = 'credito' "
                               "ORDER BY id LIMIT 1"), {"m": member_id}).scalar()
        found = {"dashboard": "/zona/"}
        found.update({f"sub-tab {key}": url_for("products.section", seccion=key) for key, _label in PRODUCT_SUBTABS})
        if loan is not None:
            found["loan schedule"] = url_for("products.loan", obligation_id=loan)
        if account is not None:
            found["movements (first page)"] = url_for("products.movements", tipo="ahorros", product_id=account)
        found["personal data"] = url_for("personal.view")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=100_000, help="synthetic members to load")
    parser.add_argument("--sample", type=int, default=200, help="members logged in and read from")
    parser.add_argument("--requests", type=int, default=2000, help="timed requests per page")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--keep", action="store_true", help="keep the database")
    parser.add_argument("--reuse", action="store_true", help="use a kept database instead of loading")
    args = parser.parse_args()

    server_url = os.environ.get("DATABASE_URL") or DEFAULT_SERVER_URL
    work = Path(tempfile.mkdtemp(prefix="zona-bench-zone-"))
    redis_port = free_port()
    redis_proc = None
    if shutil.which("redis-server"):
        redis_proc = subprocess.Popen(["redis-server", "--port", str(redis_port), "--save", "", "--appendonly", "no"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        if not wait_until(lambda: _ping(redis_port), 10):
            raise SystemExit("private redis-server did not start")
        redis_url = f"redis://127.0.0.1:{redis_port}/0"
    else:
        redis_url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    os.environ.update({
        "ZONA_ENV": "test", "ZONA_STATE_DIR": str(work / "state"), "REDIS_URL": redis_url, "ZONA_REDIS_DB_BASE": "0",
        "ZONA_LOGIN_IP_LIMIT": "1000000000", "ZONA_LOGIN_STEP_IP_LIMIT": "1000000000",
        "ZONA_SESSION_IDLE_TIMEOUT_S": "7200",
    })
    reused = args.reuse and _database_exists(server_url)
    try:
        if reused:
            point_process_at(with_database(server_url, BENCH_DB))
            from db.migrate import upgrade_head

            upgrade_head()  # a kept database from an older build gets the new migrations
            log(f"setup: reusing database {BENCH_DB}")
        else:
            point_process_at(create_database(server_url, BENCH_DB))
            from db.bulk_seed import load_synthetic_members
            from db.migrate import upgrade_head

            upgrade_head()
            started = time.perf_counter()
            load_synthetic_members(args.members, seed=args.seed, progress=lambda _m: None, workers=2)
            log(f"setup: {args.members:,} synthetic members loaded in {time.perf_counter() - started:.0f} s")
        run(args)
    finally:
        if not args.keep:
            from db.engine import reset_engine

            reset_engine()
            drop_database(server_url, BENCH_DB)
        if redis_proc is not None:
            redis_proc.terminate()
        shutil.rmtree(work, ignore_errors=True)


def run(args: argparse.Namespace) -> None:
    from sqlalchemy import text

    from db.engine import session_scope
    from webapp import create_app

    with session_scope() as db:
        counts = {t: db.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()  # noqa: S608 - fixed names
                  for t in ("members", "journal_lines", "installments")}
    log("database: " + ", ".join(f"{t} {n:,}" for t, n in counts.items()))
    app = create_app()
    started = time.perf_counter()
    members = sample_members(args.sample, args.seed)
    clients = [(member_id, login(app, document)) for member_id, document in members]
    log(f"{len(clients)} members logged in through the real login in {time.perf_counter() - started:.1f} s")
    targets = [(client, pages_of(app, member_id)) for member_id, client in clients]
    names = sorted({name for _c, pages in targets for name in pages})
    # Warm: every member's every page once (caches, the pool, compiled statements).
    for client, pages in targets:
        for path in pages.values():
            response = client.get(path)
            if response.status_code != 200:
                raise RuntimeError(f"{path}: {response.status_code}")
    rng = random.Random(args.seed)
    log(f"\n{'page':<28}{'requests':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for name in names:
        having = [(c, p[name]) for c, p in targets if name in p]
        timings = []
        for _ in range(args.requests):
            client, path = rng.choice(having)
            t0 = time.perf_counter()
            response = client.get(path)
            timings.append((time.perf_counter() - t0) * 1000)
            if response.status_code != 200:
                raise RuntimeError(f"{path}: {response.status_code}")
        timings.sort()
        log(f"{name:<28}{len(timings):>9}{pct(timings, 50):>9.1f}{pct(timings, 95):>9.1f}{pct(timings, 99):>9.1f}"
            f"{timings[-1]:>9.1f}")
    log(f"\nserver time: the WSGI call in this process, warm, {len(clients)} members in random order; "
        f"machine load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
