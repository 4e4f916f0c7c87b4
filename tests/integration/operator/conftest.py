"""Fixtures for the console tests: the demo members on a clean database, one applied
savings payment, the app built from settings in the environment, and real Redis
databases (sessions, throttle, broker) flushed per test."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from flask import Flask

from db.engine import session_scope
from db.models import ObligationKind, SavingsProduct
from db.seed import seed_demo_members
from tests.support.payments import DEMO_DOCUMENT, OTHER_DOCUMENT, Demo, member_ids, one_intent


def _flush_redis() -> None:
    from zona_privada.settings import get_settings

    settings = get_settings()
    for url in (settings.sessions_redis_url, settings.throttle_redis_url, settings.broker_redis_url):
        client = redis.Redis.from_url(url)
        client.flushdb()
        client.close()


@pytest.fixture
def demo(clean_db: str, state_dir) -> Demo:  # noqa: ANN001
    seed_demo_members(None)
    with session_scope() as session:
        member_id, accounts, obligations = member_ids(session, DEMO_DOCUMENT)
        other_id, other_accounts, other_obligations = member_ids(session, OTHER_DOCUMENT)
    return Demo(
        member_id=member_id,
        rentadiario_id=accounts[SavingsProduct.RENTADIARIO.value],
        rentahorrito_id=accounts[SavingsProduct.RENTAHORRITO.value],
        aportes_id=obligations[ObligationKind.APORTES.value],
        permanente_id=obligations[ObligationKind.AHORRO_PERMANENTE.value],
        loan_id=obligations[ObligationKind.LOAN.value],
        other_member_id=other_id,
        other_account_id=other_accounts[SavingsProduct.RENTADIARIO.value],
        other_obligation_id=other_obligations[ObligationKind.APORTES.value],
    )


@pytest.fixture
def applied(demo: Demo) -> int:
    """The demo member's next aportes paid from Rentadiario, applied by the worker's step
    (aportes, not the loan: a loan paid before its due date re-bills interest, and such a
    payment is one the reversal refuses)."""
    from db.payments import processing

    intent_id, _amount = one_intent(demo, demo.aportes_id)
    with session_scope() as session:
        result = processing.apply_intent(session, intent_id)
    assert result.state.value == "applied", result
    return intent_id


@pytest.fixture
def make_app(demo: Demo, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Flask]]:
    from zona_privada.settings import reset_settings_cache

    def factory(**env: Any) -> Flask:
        for name, value in env.items():
            monkeypatch.setenv(name, str(value))
        reset_settings_cache()
        _flush_redis()
        from webapp import create_app

        return create_app()

    yield factory
    reset_settings_cache()


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app(ZONA_LOCKOUT_THRESHOLD=3)
