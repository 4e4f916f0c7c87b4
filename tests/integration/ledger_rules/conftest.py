"""Fixtures for the ledger-rule tests: the demo members seeded on a simulated day, and
the certified usury rates (clean_db empties every table, usury_rates included)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pytest

from db.demo_data import seed_demo
from db.engine import session_scope
from db.models import ObligationKind, SavingsProduct
from db.usury import DEFAULT_FILE, load_usury_file
from domain.hashing import hash_secret
from tests.support.payments import DEMO_DOCUMENT, member_ids

# The demo is seeded on this day and the clock then moved forward by the tests: January
# to March 2026 is covered by confirmed certifications (db/data/usury_rates.csv).
SEEDED_ON = date(2026, 1, 20)


@dataclass(frozen=True)
class DemoOn:
    seeded_on: date
    member_id: int
    rentadiario_id: int
    aportes_id: int
    permanente_id: int
    loan_id: int


@pytest.fixture
def demo_on(clean_db: str) -> DemoOn:
    with session_scope() as session:
        load_usury_file(session, DEFAULT_FILE)
        seed_demo(session, SEEDED_ON, hash_secret, None)
    with session_scope() as session:
        member_id, accounts, obligations = member_ids(session, DEMO_DOCUMENT)
    return DemoOn(
        seeded_on=SEEDED_ON, member_id=member_id, rentadiario_id=accounts[SavingsProduct.RENTADIARIO.value],
        aportes_id=obligations[ObligationKind.APORTES.value],
        permanente_id=obligations[ObligationKind.AHORRO_PERMANENTE.value],
        loan_id=obligations[ObligationKind.LOAN.value],
    )
