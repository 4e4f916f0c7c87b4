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

import psycopg
import pytest
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.ports import free_port, trap  # noqa: E402  (needs ROOT on the path)

# Before anything reads settings or starts a child: every default port is a trap.
PORT_TRAP = trap()

os.environ.setdefault("ZONA_ENV", "test")
os.environ.setdefault("ZONA_REDIS_DB_BASE", "8")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
# Kept in the environment: this module is imported twice (as pytest's conftest and as
# tests.conftest), and the second import must not take our own test database for the server.
SERVER_URL = os.environ.setdefault(
    "ZONA_TEST_SERVER_URL", os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
)


def database_url_for(name: str) -> str:
    url = make_url(SERVER_URL.replace("postgresql+psycopg://", "postgresql://")).set(database=name)
    return url.render_as_string(hide_password=False)


TEST_DATABASE = f"zona_test_{os.getpid()}"
# Imported modules (the Celery app) read settings at import: point them at our database now.
os.environ["DATABASE_URL"] = database_url_for(TEST_DATABASE)


def admin_dsn() -> str:
    return database_url_for(make_url(SERVER_URL.replace("postgresql+psycopg://", "postgresql://")).database or "postgres")


def create_database(name: str) -> str:
    with psycopg.connect(admin_dsn(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return database_url_for(name)


def drop_database(name: str) -> None:
    with psycopg.connect(admin_dsn(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def point_process_at(database_url: str) -> None:
    """Make settings, engine and session factory of this process use `database_url`."""
    from db.engine import reset_engine
    from zona_privada.settings import reset_settings_cache

    os.environ["DATABASE_URL"] = database_url
    reset_settings_cache()
    reset_engine()




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
