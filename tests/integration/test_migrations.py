"""Alembic owns the schema: from empty to head, down and up again, and autogenerate
finds nothing the migrations miss."""
from __future__ import annotations

import os

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from db.migrate import alembic_config
from db.models import Base
from tests.support.databases import create_database, drop_database


@pytest.fixture
def empty_database() -> str:
    name = f"zona_test_mig_{os.getpid()}"
    url = create_database(name).replace("postgresql://", "postgresql+psycopg://")
    yield url
    drop_database(name)


def test_upgrade_from_empty_matches_models(empty_database: str) -> None:
    engine = create_engine(empty_database)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "head")
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True}), Base.metadata)
        tables = set(inspect(conn).get_table_names())
    engine.dispose()
    assert diff == [], f"models and migrations disagree: {diff}"
    assert {"journal_entries", "journal_lines", "payment_intents", "funding_attempts", "holds"} <= tables


def test_downgrade_to_base_and_up_again(empty_database: str) -> None:
    engine = create_engine(empty_database)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "head")
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "base")
    with engine.connect() as conn:
        assert set(inspect(conn).get_table_names()) <= {"alembic_version"}
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "head")
    engine.dispose()
