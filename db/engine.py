"""One engine per process and one session scope per request or task.

Forked Celery workers and gunicorn workers must not share the parent's connections:
`dispose_after_fork()` drops them without closing the parent's sockets (DESIGN §4 rule 8).
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from zona_privada.settings import get_settings

# What PostgreSQL shows as each connection's application_name: the part of the system it
# serves ("zona-privada:web", "zona-privada:worker"), so pg_stat_activity tells an
# operator, and the benchmark, whose connections hold locks or use the server's CPU.
_application_name = "zona-privada"


def name_connections(part: str) -> None:
    """Name this process's future connections after its part (web, worker)."""
    global _application_name
    _application_name = f"zona-privada:{part}"


@lru_cache(maxsize=1)
def get_engine() -> Engine:
    settings = get_settings()
    engine = create_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_pre_ping=True,
        pool_recycle=1800,
        connect_args={"connect_timeout": 5},
    )

    @event.listens_for(engine, "do_connect")
    def _named(_dialect, _record, _cargs, cparams) -> None:  # noqa: ANN001
        cparams["application_name"] = _application_name

    @event.listens_for(engine, "connect")
    def _utc(dbapi_conn, _record) -> None:  # noqa: ANN001
        # Store and compare in UTC; the UI converts to America/Bogota.
        with dbapi_conn.cursor() as cur:
            cur.execute("SET TIME ZONE 'UTC'")
        dbapi_conn.commit()

    return engine


@lru_cache(maxsize=1)
def _session_factory() -> sessionmaker[Session]:
    return sessionmaker(bind=get_engine(), expire_on_commit=False)


@contextmanager
def session_scope() -> Iterator[Session]:
    """A transaction: commit when the block ends, roll back if it raises, always close."""
    session = _session_factory()()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def dispose_after_fork() -> None:
    """Call in a forked child: forget inherited pooled connections, keep the parent's open."""
    if get_engine.cache_info().currsize:
        get_engine().dispose(close=False)


def reset_engine() -> None:
    """Tests point the process at another database: drop the cached engine and factory."""
    if get_engine.cache_info().currsize:
        get_engine().dispose()
    get_engine.cache_clear()
    _session_factory.cache_clear()
