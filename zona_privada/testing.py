"""`zona test`: every test on its own stack.

PostgreSQL and Redis follow DESIGN §2: DATABASE_URL / REDIS_URL when set, else a server
already listening on the standard local port, else embedded ones under a temporary
folder. The tests then create their own database (`zona_test_<pid>`) and use Redis
databases 8-11, never the `zona up` data. Browser tests need /usr/bin/chromium.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
TEST_REDIS_DB_BASE = 8


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def ensure_chromium() -> str | None:
    """Returns the browser path, installing Debian's chromium when missing (as root)."""
    if CHROMIUM.exists():
        return str(CHROMIUM)
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("zona test: installing Debian's chromium ...", flush=True)
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], check=False, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=False, env=env)
        if CHROMIUM.exists():
            return str(CHROMIUM)
    print("zona test: installing Playwright's chromium ...", flush=True)
    subprocess.run([sys.executable, "-m", "playwright", "install", "chromium"], check=False)
    return None  # Playwright finds its own build


def run_tests(pytest_args: list[str]) -> int:
    from .runtime import EmbeddedPostgres, EmbeddedRedis

    env = dict(os.environ)
    env["ZONA_ENV"] = "test"
    work = Path(tempfile.mkdtemp(prefix="zona-test-"))
    env["ZONA_STATE_DIR"] = str(work / "state")
    env["ZONA_REDIS_DB_BASE"] = str(TEST_REDIS_DB_BASE)
    browser = ensure_chromium()
    if browser:
        env["ZONA_CHROMIUM"] = browser

    pg = rd = None
    try:
        if not env.get("DATABASE_URL"):
            if _listening("127.0.0.1", 5432):
                env["DATABASE_URL"] = "postgresql://postgres@127.0.0.1:5432/postgres"
            else:
                print("zona test: no PostgreSQL on 127.0.0.1:5432, starting an embedded one", flush=True)
                pg = EmbeddedPostgres(work / "pg")
                env["DATABASE_URL"] = pg.start()
        if not env.get("REDIS_URL"):
            if _listening("127.0.0.1", 6379):
                env["REDIS_URL"] = "redis://127.0.0.1:6379/0"
            else:
                print("zona test: no Redis on 127.0.0.1:6379, starting an embedded one", flush=True)
                rd = EmbeddedRedis(work / "redis")
                env["REDIS_URL"] = rd.start()
        # The tests derive their own database from this server URL.
        env["ZONA_TEST_SERVER_URL"] = env["DATABASE_URL"]
        cmd = [sys.executable, "-m", "pytest", *pytest_args]
        return subprocess.run(cmd, env=env).returncode
    finally:
        if rd is not None:
            rd.stop()
        if pg is not None:
            pg.stop()
        shutil.rmtree(work, ignore_errors=True)
