"""Shared fixtures: a private PostgreSQL database per test session (`zona_test_<pid>`),
Redis databases 8-11 of the test server, and helpers to start real processes.

`./zona test` sets ZONA_TEST_SERVER_URL (DESIGN §2: the given URL, the standard local
server, or an embedded one); run directly, pytest falls back to 127.0.0.1:5432.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support import ROOT  # noqa: E402  (needs the project on the path)
from tests.support.ports import trap  # noqa: E402

# Before anything reads settings or starts a child: every default port is a trap.
PORT_TRAP = trap()

os.environ.setdefault("ZONA_ENV", "test")
os.environ.setdefault("ZONA_REDIS_DB_BASE", "8")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
# The server URL is fixed in the environment before our own database replaces
# DATABASE_URL below (tests.support.databases reads it once).
from tests.support.databases import (  # noqa: E402
    create_database,
    database_url_for,
    drop_database,
    point_process_at,
)


TEST_DATABASE = f"zona_test_{os.getpid()}"
# Imported modules (the Celery app) read settings at import: point them at our database now.
os.environ["DATABASE_URL"] = database_url_for(TEST_DATABASE)


@pytest.fixture(scope="session")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = Path(os.environ.get("ZONA_STATE_DIR") or tmp_path_factory.mktemp("state"))
    os.environ["ZONA_STATE_DIR"] = str(path)
    return path


@pytest.fixture(scope="session")
def database_url(state_dir: Path) -> Iterator[str]:
    """A migrated database of our own for the whole session."""
    from db.migrate import upgrade_head

    name = TEST_DATABASE
    url = create_database(name)
    point_process_at(url)
    upgrade_head()
    yield url
    from db.engine import reset_engine

    reset_engine()
    drop_database(name)


@pytest.fixture
def clean_db(database_url: str) -> Iterator[str]:
    """Empty every table (TRUNCATE: the ledger refuses DELETE by design)."""
    from sqlalchemy import text

    from db.engine import get_engine
    from db.models import Base

    names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with get_engine().begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    yield database_url


@pytest.fixture
def redis_client():  # noqa: ANN201
    import redis

    from zona_privada.settings import get_settings

    client = redis.Redis.from_url(get_settings().broker_redis_url)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def subprocess_env(database_url: str, state_dir: Path) -> dict[str, str]:
    """Environment for real child processes (workers, web) on the test stack."""
    env = dict(os.environ)
    env["DATABASE_URL"] = database_url
    env["ZONA_STATE_DIR"] = str(state_dir)
    env["PYTHONPATH"] = str(ROOT)
    return env


@pytest.fixture(autouse=True)
def _no_default_ports() -> Iterator[None]:
    """Fails the test during (or just after) which something reached a trapped port; a
    child process that connects later is caught by the next test or at session end."""
    yield
    hits = PORT_TRAP.take_hits()
    if hits:
        pytest.fail("connected to a default port instead of its own: " + ", ".join(sorted(set(hits))), pytrace=False)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Nothing may reach a port the test did not choose for itself (see tests.support.ports)."""
    hits = PORT_TRAP.take_hits()
    if hits:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        message = ("a test connected to a default port instead of its own: " + ", ".join(sorted(set(hits)))
                   + f" ({len(hits)} connections)")
        if reporter is not None:
            reporter.write_line(f"FAILED port trap: {message}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
