"""PSE's bank list: fetched from the sandbox over real SOAP, cached in PostgreSQL,
refreshed once a day, kept when PSE fails, withheld when too old (pse-reference §2.5)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import select

from db.engine import session_scope
from db.models import PseBank
from db.pse_banks import current_banks, last_fetched, replace_banks
from integrations.pse_sandbox.app import BANKS
from workers.pse_tasks import refresh_bank_list

pytestmark = pytest.mark.integration

NOW = datetime(2026, 12, 2, 15, 0, tzinfo=timezone.utc)


def stored() -> list[tuple[str, str, int]]:
    with session_scope() as session:
        return [tuple(r) for r in session.execute(select(PseBank.code, PseBank.name, PseBank.position)
                                                   .order_by(PseBank.position)).all()]


def test_refresh_stores_the_sandbox_banks_in_order_without_the_placeholder(clean_db: str, sandbox: Any) -> None:
    settings = sandbox.settings()
    assert refresh_bank_list(sandbox.provider(), settings, now=NOW) == len(BANKS)
    assert stored() == [(code, name, i) for i, (code, name, _) in enumerate(BANKS)]
    with session_scope() as session:
        offered = current_banks(session, NOW + timedelta(hours=1), timedelta(seconds=settings.banks_max_age_s))
    assert offered is not None and [b.code for b in offered] == [code for code, _, _ in BANKS]
    assert "0" not in {b.code for b in offered}


def test_a_list_fetched_today_is_not_fetched_again(clean_db: str, sandbox: Any) -> None:
    settings = sandbox.settings()
    refresh_bank_list(sandbox.provider(), settings, now=NOW)
    # Any call to getBankList now would consume this fault; it must still be planted.
    sandbox.control("faults", {"operation": "getBankList", "mode": "http_500", "times": 1})
    assert refresh_bank_list(sandbox.provider(), settings, now=NOW + timedelta(hours=23)) is None
    assert sandbox.control("faults") == [{"operation": "getBankList", "mode": "http_500", "times": 1}]
    with session_scope() as session:
        assert last_fetched(session) == NOW


def test_pse_down_keeps_yesterdays_list_and_an_old_list_is_withheld(clean_db: str, sandbox: Any) -> None:
    settings = sandbox.settings(ZONA_PSE_RETRY_ATTEMPTS="2")
    refresh_bank_list(sandbox.provider(), settings, now=NOW)
    before = stored()
    sandbox.control("faults", {"operation": "getBankList", "mode": "http_503", "times": 10})
    later = NOW + timedelta(days=1, hours=1)
    assert refresh_bank_list(sandbox.provider(), settings, now=later) is None
    assert stored() == before
    max_age = timedelta(seconds=settings.banks_max_age_s)
    with session_scope() as session:
        assert last_fetched(session) == NOW
        assert current_banks(session, later, max_age) is not None
        # Older than the limit: the wizard gets None and shows PSE's standard message.
        assert current_banks(session, NOW + max_age + timedelta(seconds=1), max_age) is None


def test_an_answer_with_no_usable_bank_changes_nothing(clean_db: str) -> None:
    with session_scope() as session:
        assert replace_banks(session, [("1022", "BANCO UNIÓN COLOMBIANO")], NOW) == 1
    with session_scope() as session:
        assert replace_banks(session, [("0", "A continuación seleccione su banco"), ("", "")], NOW + timedelta(days=1)) == 0
    assert stored() == [("1022", "BANCO UNIÓN COLOMBIANO", 0)]
    with session_scope() as session:
        assert current_banks(session, NOW, timedelta(days=3)) is not None
        assert last_fetched(session) == NOW
