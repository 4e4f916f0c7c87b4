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


@lru_cache(maxsize=1)
def get_engine() -> Engine:
    settings = get_settings()
    engine = create_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_pre_ping=True,
        pool_recycle=1800,
        connect_args={"connect_timeout": 5, "application_name": "zona-privada"},
    )

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
