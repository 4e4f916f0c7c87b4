"""200 concurrent intents of the same amount X, each paying a different obligation, from
one Rentadiario holding 120·X above its minimum: exactly 120 applied, 80 rejected with
"Saldo insuficiente", and the balance never below the minimum."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import sessionmaker

from db.engine import session_scope
from db.ledger import balance
from db.models import Installment, PaymentIntent
from db.payments.intents import create_intent
from db.payments.processing import Outcome, apply_intent
from zona_privada.settings import get_settings

from tests.support.payments import assert_applied_exactly_once, assert_ledger_balanced, member_with_loans, new_key

pytestmark = [pytest.mark.integration, pytest.mark.slow]

N_INTENTS = 200
N_AFFORDABLE = 120
THREADS = 24
MINIMUM = Decimal("10000")


def test_two_hundred_concurrent_intents_exactly_120_applied(clean_db: str) -> None:
    member_id, account_id, loan_ids, x = member_with_loans(N_INTENTS, N_AFFORDABLE, MINIMUM)
    intent_ids = []
    with session_scope() as session:
        for loan_id in loan_ids:
            intent_id, _ = create_intent(session, member_id=member_id, idempotency_key=new_key(), kind="payment",
                                         lines=[{"obligation_id": loan_id, "amount": x}],
                                         funding=[{"savings_account_id": account_id, "amount": x}])
            intent_ids.append(intent_id)

    engine = create_engine(get_settings().database_url, pool_size=THREADS + 2, max_overflow=0)
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    with session_scope() as session:
        ledger_id = session.execute(text("SELECT ledger_account_id FROM savings_accounts WHERE id = :i"),
                                    {"i": account_id}).scalar_one()
    lowest: list[Decimal] = []
    done = threading.Event()

    def watch() -> None:  # samples the committed balance while the payments run
        while not done.is_set():
            with factory() as s:
                lowest.append(balance(s, ledger_id))

    barrier = threading.Barrier(THREADS)

    def run(chunk: list[int]) -> list[Outcome]:
        barrier.wait(timeout=30)
        out = []
        for intent_id in chunk:
            with factory() as session, session.begin():
                out.append(apply_intent(session, intent_id).outcome)
        return out

    chunks = [intent_ids[i::THREADS] for i in range(THREADS)]
    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with ThreadPoolExecutor(THREADS) as pool:
            outcomes = [o for chunk in pool.map(run, chunks) for o in chunk]
    finally:
        done.set()
        watcher.join()
        engine.dispose()

    assert outcomes.count(Outcome.APPLIED) == N_AFFORDABLE
    assert outcomes.count(Outcome.REJECTED) == N_INTENTS - N_AFFORDABLE
    with session_scope() as session:
        reasons = session.execute(select(PaymentIntent.failure_reason).where(PaymentIntent.state == "rejected")).scalars().all()
        assert reasons == ["Saldo insuficiente"] * (N_INTENTS - N_AFFORDABLE)
        assert balance(session, ledger_id) == MINIMUM
        # Every debit of the account, in the order the account lock serialized them:
        # the running balance never went below the minimum.
        running = session.execute(text(
            "SELECT sum(credit - debit) OVER (ORDER BY entry_id) FROM journal_lines WHERE ledger_account_id = :a"
            " ORDER BY entry_id"), {"a": ledger_id}).scalars().all()
        assert min(running[1:]) >= MINIMUM
        paid = session.execute(select(Installment).where(Installment.obligation_id.in_(loan_ids),
                                                         Installment.number == 1)).scalars().all()
        # Paid on the disbursement day, the installment's principal is paid and its interest
        # (none accrued yet, Ley 1555 de 2012) is left to accrue until its due date.
        assert sum(1 for i in paid if i.paid_principal == i.principal > 0) == N_AFFORDABLE
    assert lowest and min(lowest) >= MINIMUM
    applied = [i for i, o in zip([i for c in chunks for i in c], outcomes) if o is Outcome.APPLIED]
    assert_applied_exactly_once(applied)
    assert_ledger_balanced()


def test_a_payment_holding_its_locks_does_not_block_a_new_intent_on_the_same_rows(demo) -> None:  # noqa: ANN001
    """The payment locks (accounts, obligations) are FOR NO KEY UPDATE: a new
    intent's foreign-key checks on the same rows (FOR KEY SHARE) pass at once. With FOR
    UPDATE they waited, and a creation between two payments deadlocked (found by the
    scale-out test)."""
    from db.payments.snapshots import load_accounts, load_obligations
    from db.seed import bogota_today

    with session_scope() as holder:
        load_accounts(holder, demo.member_id, [demo.rentadiario_id, demo.rentahorrito_id], today=bogota_today(),
                      lock=True)
        load_obligations(holder, demo.member_id, [demo.aportes_id], lock=True)
        # The holder keeps its row locks open while another connection creates an intent
        # that references the same account and obligation.
        with session_scope() as creator:
            creator.execute(text("SET LOCAL lock_timeout = '2s'"))
            created = create_intent(
                creator, member_id=demo.member_id, idempotency_key=new_key(), kind="payment",
                lines=[{"obligation_id": demo.aportes_id, "amount": Decimal("1000")}],
                funding=[{"savings_account_id": demo.rentadiario_id, "amount": Decimal("1000")}])
        assert created.intent_id
