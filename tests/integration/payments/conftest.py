"""Fixtures for the payment tests: the manual's demo members on a clean database. What
the tests check with lives in tests.support.payments."""
from __future__ import annotations

import pytest

from db.engine import session_scope
from db.models import ObligationKind, SavingsProduct
from db.seed import seed_demo_members
from tests.support import transitions
from tests.support.payments import DEMO_DOCUMENT, OTHER_DOCUMENT, Demo, member_ids


@pytest.fixture(scope="session", autouse=True)
def every_transition_is_the_machines(database_url: str):  # noqa: ANN201
    """Record every state change the database sees across the payment tests (triggers)
    and, at the end of the session, check each against the state machines the step table
    follows (the log survives schema resets: tests.support.transitions)."""
    from db.engine import get_engine

    transitions.install(get_engine())
    yield
    rows = transitions.recorded(get_engine())
    # A run of tests that never seeded a payment (a single file, -k) has nothing to check.
    assert rows or not _DEMO_USED, "the payment tests moved no state: the recorder is not wired"
    bad = transitions.illegal(rows)
    assert not bad, f"transitions the state machine forbids: {bad[:20]}"


_DEMO_USED: list[bool] = []


@pytest.fixture
def demo(clean_db: str, state_dir) -> Demo:  # noqa: ANN001
    _DEMO_USED.append(True)
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
