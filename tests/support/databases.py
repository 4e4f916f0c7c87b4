"""The test databases: one per test process on the test server (`./zona test` sets
ZONA_TEST_SERVER_URL; DESIGN §2), made and dropped through the server's admin database."""
from __future__ import annotations

import os

import psycopg
from sqlalchemy.engine import make_url

# Kept in the environment so every importer (and child process) sees the same server.
SERVER_URL = os.environ.setdefault(
    "ZONA_TEST_SERVER_URL", os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
)


def database_url_for(name: str) -> str:
    url = make_url(SERVER_URL.replace("postgresql+psycopg://", "postgresql://")).set(database=name)
    return url.render_as_string(hide_password=False)


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
