"""The manual's demo members on a clean database, for the metrics tests (the payment
tests' fixture, repeated here: conftests are not for importing)."""
from __future__ import annotations

import pytest

from db.engine import session_scope
from db.models import ObligationKind, SavingsProduct
from db.seed import seed_demo_members
from tests.support.payments import DEMO_DOCUMENT, OTHER_DOCUMENT, Demo, member_ids


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
