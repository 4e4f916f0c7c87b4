"""The cached PSE bank list: replaced whole by the daily refresh, read by the wizard.

The list is replaced in one transaction (delete + insert), so a reader sees either the
old list or the new one, never a mix. A refresh that brings nothing usable never
replaces a good list: yesterday's banks are better than none.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from db.models import PseBank
from domain.pse_banks import BankChoice, selectable

def last_fetched(session: Session) -> datetime | None:
    return session.scalar(select(func.max(PseBank.fetched_at)))


def needs_refresh(session: Session, now: datetime, every: timedelta) -> bool:
    fetched = last_fetched(session)
    return fetched is None or now - fetched >= every


def replace_banks(session: Session, rows: Sequence[tuple[str, str]], fetched_at: datetime) -> int:
    """Stores the fetched list in place of the old one; returns how many banks it kept.
    Nothing usable (an empty or all-placeholder answer) changes nothing and returns 0."""
    banks = selectable(rows)
    if not banks:
        return 0
    session.execute(delete(PseBank))
    session.execute(insert(PseBank), [
        {"code": b.code, "name": b.name, "position": i, "fetched_at": fetched_at} for i, b in enumerate(banks)
    ])
    return len(banks)


def current_banks(session: Session, now: datetime, max_age: timedelta) -> list[BankChoice] | None:
    """The list to offer, or None when there is none or it is older than `max_age`: the
    wizard then shows PSE's standard message instead of a list that may name banks
    that left PSE."""
    rows = session.execute(select(PseBank.code, PseBank.name, PseBank.fetched_at).order_by(PseBank.position)).all()
    if not rows or now - min(r.fetched_at for r in rows) > max_age:
        return None
    return [BankChoice(code=r.code, name=r.name) for r in rows]


def bank_name(session: Session, code: str) -> str | None:
    return session.scalar(select(PseBank.name).where(PseBank.code == code))
