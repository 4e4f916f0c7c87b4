"""`zona seed`: the demo members, `--reset` to bring the demo state back, and
`--members N` for synthetic load."""
from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from sqlalchemy import func, select, text

from domain.bogota_calendar import BOGOTA
from domain.hashing import hash_secret

from .engine import get_engine, session_scope
from .migrate import upgrade_head
from .models import Member


def bogota_today() -> date:
    return datetime.now(BOGOTA).date()


def member_count() -> int:
    with session_scope() as session:
        return session.execute(select(func.count()).select_from(Member)).scalar_one()


def seed_demo_members(credentials_file: Path | None) -> list[dict[str, str]]:
    from .demo_data import seed_demo

    with session_scope() as session:
        return seed_demo(session, bogota_today(), hash_secret, credentials_file)


def reset_database() -> None:
    """Drop everything and migrate again: the ledger is append-only by design, so the
    only honest way back to the demo state is a new schema, never edits."""
    engine = get_engine()
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    upgrade_head()
