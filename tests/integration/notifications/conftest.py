"""Fixtures for the outbox tests: the manual's member on a clean database, and the
in-process SMTP sink (`mail_helpers.Sink`) the dispatcher of this process points at."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from db.engine import session_scope
from db.models import Member, SavingsAccount, SavingsProduct
from db.seed import seed_demo_members
from tests.support.ports import free_port
from tests.integration.notifications.mail_helpers import Payer, Sink
from zona_privada.settings import reset_settings_cache


@pytest.fixture
def payer(clean_db: str, state_dir: Path) -> Payer:
    seed_demo_members(None)
    with session_scope() as session:
        member = session.execute(select(Member).where(Member.document_number == "1077227777")).scalar_one()
        accounts = {a.product: a.id for a in session.execute(
            select(SavingsAccount).where(SavingsAccount.member_id == member.id)).scalars()}
        return Payer(member.id, member.email, accounts[SavingsProduct.RENTADIARIO],
                     accounts[SavingsProduct.RENTAHORRITO])


@pytest.fixture
def sink(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sink]:
    """Not started: a test starts it (or leaves the relay down). The dispatcher in this
    process is pointed at its port."""
    port = free_port()
    monkeypatch.setenv("ZONA_SMTP_PORT", str(port))
    reset_settings_cache()
    found = Sink(port, tmp_path / "mail")
    yield found
    found.stop()
    monkeypatch.undo()
    reset_settings_cache()
