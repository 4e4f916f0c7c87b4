"""Step 2 of the login, timed for member and non-member numbers.

The login must not reveal who is a member: the page with the image and phrase, and the
answer to a wrong key, should cost the same whoever the number belongs to. This runs the
real app in-process (PostgreSQL, Redis, argon2id) on a scratch database with the demo
members, interleaves member and non-member tries, and prints both distributions.

    .venv/bin/python bench/bench_login_timing.py --tries 200
    .venv/bin/python bench/bench_login_timing.py --mode forgot --tries 200

`--mode forgot` times "Olvidé mi clave" instead: the POST of /ingresar/clave-temporal for
members and strangers. The web does the same for both (one lookup, one audit row, one
task on the broker); the worker draws and hashes the key, so no argon2 runs in the request.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _prepare_environment() -> str:
    os.environ.setdefault("ZONA_ENV", "test")
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
    os.environ.setdefault("ZONA_REDIS_DB_BASE", "12")
    os.environ.setdefault("ZONA_STATE_DIR", str(Path("/tmp") / f"zona-bench-{os.getpid()}"))
    # Neither throttling nor lockout may interfere with a timing run.
    os.environ["ZONA_LOGIN_IP_LIMIT"] = "100000000"
    os.environ["ZONA_LOCKOUT_THRESHOLD"] = "100000000"
    for name in ("ZONA_LOGIN_STEP_IP_LIMIT", "ZONA_LOGIN_STEP_DOCUMENT_LIMIT", "ZONA_TEMP_KEY_IP_LIMIT",
                 "ZONA_TEMP_KEY_DOCUMENT_LIMIT"):
        os.environ[name] = "100000000"
    import psycopg
    from sqlalchemy.engine import make_url

    server = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    server = server.replace("postgresql+psycopg://", "postgresql://")
    name = f"zona_bench_{os.getpid()}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    os.environ["DATABASE_URL"] = make_url(server).set(database=name).render_as_string(hide_password=False)
    return server


def _drop(server: str) -> None:
    import psycopg

    from db.engine import reset_engine

    reset_engine()
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "zona_bench_{os.getpid()}" WITH (FORCE)')


def describe(samples_ms: list[float]) -> str:
    ordered = sorted(samples_ms)
    p50 = ordered[len(ordered) // 2]
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return (f"n={len(ordered):4d}  p50={p50:7.2f} ms  p95={p95:7.2f} ms  mean={statistics.fmean(ordered):7.2f} ms  "
            f"stdev={statistics.pstdev(ordered):6.2f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tries", type=int, default=150, help="tries per group (member, non-member)")
    parser.add_argument("--mode", choices=("login", "forgot"), default="login",
                        help="login: step 2 and a wrong key; forgot: the temporary-key request")
    args = parser.parse_args()
    server = _prepare_environment()
    try:
        import redis

        from db.migrate import upgrade_head
        from db.seed import seed_demo_members
        from tests.integration.auth.auth_pages import browser_body, field, typed
        from webapp import create_app
        from zona_privada.settings import get_settings

        upgrade_head()
        seed_demo_members(None)
        settings = get_settings()
        for url in (settings.sessions_redis_url, settings.throttle_redis_url, settings.broker_redis_url):
            redis.Redis.from_url(url).flushdb()
        app = create_app()
        members = ["1077227777", "52345678"]  # with an image; first access (decoy shown)
        rng = random.Random(7)

        def one_try(number: str) -> tuple[float, float]:
            client = app.test_client()
            token = field(client.get("/ingresar").get_data(as_text=True), "csrf_token")
            client.post("/ingresar", data={"csrf_token": token, "tipo": "CC", "documento": number})
            started = time.perf_counter()
            page = client.get("/ingresar/clave")
            shown_s = time.perf_counter() - started
            assert page.status_code == 200
            body = browser_body(typed(page.get_data(as_text=True), k="Wrong1x"))
            started = time.perf_counter()
            answer = client.post("/ingresar/clave", data=body, content_type="application/x-www-form-urlencoded")
            answer_s = time.perf_counter() - started
            assert answer.status_code == 401, answer.status_code
            return shown_s * 1000, answer_s * 1000

        if args.mode == "forgot":
            return _forgot(app, members, rng, args.tries, settings)

        for _ in range(10):  # warm-up: connections, template cache
            one_try(members[0])
            one_try(str(rng.randrange(10_000_000, 99_999_999)))
        results: dict[str, dict[str, list[float]]] = {
            "member": {"page": [], "answer": []}, "non-member": {"page": [], "answer": []},
        }
        for i in range(args.tries):
            order = [("member", members[i % 2]), ("non-member", str(rng.randrange(10_000_000, 99_999_999)))]
            rng.shuffle(order)
            for group, number in order:
                page_ms, answer_ms = one_try(number)
                results[group]["page"].append(page_ms)
                results[group]["answer"].append(answer_ms)

        print(f"Login step 2 timing, {args.tries} tries per group, interleaved in random order "
              "(in-process Flask client, PostgreSQL, Redis, argon2id)")
        for part, title in (("page", "GET /ingresar/clave (image and phrase, keyboard)"),
                            ("answer", "POST /ingresar/clave (wrong key: two argon2id verifications)")):
            print(f"\n{title}")
            for group in ("member", "non-member"):
                print(f"  {group:<11} {describe(results[group][part])}")
            delta = statistics.median(results["member"][part]) - statistics.median(results["non-member"][part])
            print(f"  difference of medians (member - non-member): {delta:+.2f} ms")
        return 0
    finally:
        import redis

        from zona_privada.settings import get_settings

        redis.Redis.from_url(get_settings().broker_redis_url).flushdb()  # the tasks no worker ran
        _drop(server)


def _forgot(app, members: list[str], rng: random.Random, tries: int, settings) -> int:  # noqa: ANN001
    from tests.integration.auth.auth_pages import field

    def one_try(number: str, channel: str) -> float:
        client = app.test_client()
        token = field(client.get("/ingresar").get_data(as_text=True), "csrf_token")
        client.post("/ingresar", data={"csrf_token": token, "tipo": "CC", "documento": number})
        page = client.get("/ingresar/clave-temporal").get_data(as_text=True)
        data = {"csrf_token": field(page, "csrf_token"), "canal": channel}
        started = time.perf_counter()
        answer = client.post("/ingresar/clave-temporal", data=data)
        elapsed = time.perf_counter() - started
        assert answer.status_code == 200, answer.status_code
        return elapsed * 1000

    def stranger() -> str:
        return str(rng.randrange(10_000_000, 99_999_999))

    for _ in range(10):
        one_try(members[0], "email")
        one_try(stranger(), "email")
    results: dict[str, list[float]] = {"member": [], "non-member": []}
    for i in range(tries):
        channel = ("email", "sms")[i % 2]
        order = [("member", members[i % 2]), ("non-member", stranger())]
        rng.shuffle(order)
        for group, number in order:
            results[group].append(one_try(number, channel))
    print(f"Olvidé mi clave, {tries} tries per group, interleaved in random order "
          "(in-process Flask client, PostgreSQL, Redis broker; the worker's part is not in the request)")
    print("\nPOST /ingresar/clave-temporal")
    for group in ("member", "non-member"):
        print(f"  {group:<11} {describe(results[group])}")
    delta = statistics.median(results["member"]) - statistics.median(results["non-member"])
    print(f"  difference of medians (member - non-member): {delta:+.2f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
