"""Savings payments applied in batches (db/payments/batch.py): one transaction, one
savepoint per intent, receipts numbered at the end. Each intent is applied exactly once,
a failing or locked one is rolled back alone, and two drains in parallel over 200
intents on one account apply exactly the 120 it can afford."""
from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import sessionmaker

from db.engine import get_engine, session_scope
from db.ledger import balance
from db.models import PaymentIntent
from db.payments import batch, processing
from db.payments.intents import PseContext, create_intent
from db.payments.processing import Outcome
from zona_privada.settings import get_settings

from tests.support.payments import (
    assert_applied_exactly_once, assert_ledger_balanced, balances_of, member_with_loans, new_key, one_intent, snapshot,
)

pytestmark = pytest.mark.integration


def _states(ids: list[int]) -> dict[int, str]:
    with session_scope() as session:
        return dict(session.execute(text("SELECT id, state::text FROM payment_intents WHERE id = ANY(:ids)"),
                                    {"ids": ids}).all())


def _entries(intent_id: int) -> int:
    with session_scope() as session:
        return session.execute(text("SELECT count(*) FROM journal_entries WHERE payment_intent_id = :i"),
                               {"i": intent_id}).scalar_one()


def test_a_batch_applies_each_ready_intent_once_and_numbers_its_receipts_in_a_row(demo) -> None:  # noqa: ANN001
    loan, _ = one_intent(demo)
    aportes, _ = one_intent(demo, obligation_id=demo.aportes_id)
    with session_scope() as session:
        done = batch.apply_ready(session, limit=10)
    assert done.claimed == 2 and not done.busy and not done.failed
    assert sorted(done.applied) == sorted([loan, aportes])
    assert sorted(done.receipts.values()) == [1, 2]  # the first receipts of this database, no gap
    assert _states([loan, aportes]) == {loan: "applied", aportes: "applied"}
    assert_applied_exactly_once([loan, aportes])
    assert_ledger_balanced()
    before = snapshot()
    with session_scope() as session:  # run again: nothing is ready, nothing changes
        assert batch.apply_ready(session, limit=10).claimed == 0
    assert snapshot() == before


def test_an_intent_that_raises_is_rolled_back_alone(demo, monkeypatch) -> None:  # noqa: ANN001
    bad, _ = one_intent(demo)
    good, _ = one_intent(demo, obligation_id=demo.aportes_id)
    balances = balances_of(demo.member_id)
    real = processing.apply_intent

    def apply_then_fail(session, intent_id, **kwargs):  # noqa: ANN001, ANN202
        result = real(session, intent_id, **kwargs)  # its writes happen, inside its savepoint
        if intent_id == bad:
            raise RuntimeError("un error de programación")
        return result

    monkeypatch.setattr(batch, "apply_intent", apply_then_fail)
    with session_scope() as session:
        done = batch.apply_ready(session, limit=10)
    assert done.failed == [bad] and done.applied == [good]
    assert _states([bad, good]) == {bad: "created", good: "applied"}
    assert _entries(bad) == 0  # its debit, allocation and audit are gone with its savepoint
    with session_scope() as session:  # the caller does not claim it again
        assert batch.apply_ready(session, limit=10, skip=done.failed).claimed == 0
    monkeypatch.setattr(batch, "apply_intent", real)
    with session_scope() as session:  # later (the reconciler's re-drive) it applies normally
        assert batch.apply_ready(session, limit=10).applied == [bad]
    assert_applied_exactly_once([bad, good])
    after = balances_of(demo.member_id)
    assert after[demo.rentadiario_id] < balances[demo.rentadiario_id]
    assert_ledger_balanced()


def test_an_intent_whose_account_another_transaction_holds_waits_for_the_next_round(demo) -> None:  # noqa: ANN001
    held, _ = one_intent(demo)  # from Rentadiario
    free, _ = one_intent(demo, obligation_id=demo.aportes_id, account_id=demo.rentahorrito_id)
    with get_engine().connect() as other:
        other.execute(text("SELECT id FROM savings_accounts WHERE id = :a FOR UPDATE"), {"a": demo.rentadiario_id})
        with session_scope() as session:
            done = batch.apply_ready(session, limit=10)
        other.rollback()
    assert done.busy == [held] and done.applied == [free]
    assert _states([held]) == {held: "created"} and _entries(held) == 0
    with session_scope() as session:
        assert batch.apply_ready(session, limit=10).applied == [held]
    assert_applied_exactly_once([held, free])
    assert_ledger_balanced()


def test_a_pse_intent_is_not_taken_by_a_batch(demo) -> None:  # noqa: ANN001
    """Created and not yet held: its step is the hold, never the batch's apply."""
    with session_scope() as session:  # the bank list as the PSE poller stores it
        session.execute(text("INSERT INTO pse_banks (code, name, position, fetched_at) "
                             "VALUES ('1022', 'BANCO UNIÓN COLOMBIANO', 1, now()) ON CONFLICT DO NOTHING"))
    with session_scope() as session:
        intent_id, _ = create_intent(
            session, member_id=demo.member_id, idempotency_key=new_key(), kind="payment",
            lines=[{"obligation_id": demo.aportes_id, "amount": "3800"}],
            funding=[{"pse": True, "amount": "3800", "bank_code": "1022", "user_type": 0}],
            pse=PseContext("203.0.113.7", "http://zona.test/pagos/pse/retorno?ticket="))
    with session_scope() as session:
        assert batch.apply_ready(session, limit=10).claimed == 0
    assert _states([intent_id]) == {intent_id: "created"}


N_INTENTS, N_AFFORDABLE, MINIMUM = 200, 120, Decimal("10000")


def _ready_on_one_account() -> tuple[int, list[int]]:
    """N_INTENTS ready savings payments, each of one loan, all from one account that
    affords N_AFFORDABLE of them: (account id, loan ids)."""
    member_id, account_id, loan_ids, x = member_with_loans(N_INTENTS, N_AFFORDABLE, MINIMUM)
    with session_scope() as session:
        for loan_id in loan_ids:
            create_intent(session, member_id=member_id, idempotency_key=new_key(), kind="payment",
                          lines=[{"obligation_id": loan_id, "amount": x}],
                          funding=[{"savings_account_id": account_id, "amount": x}])
    return account_id, loan_ids


def test_two_drains_over_200_intents_on_one_account_apply_exactly_the_120_it_affords(clean_db: str) -> None:
    """Every batch locks the same account: the drains take turns through lock_timeout
    (busy intents wait a round), never apply one twice, never overdraw, and the receipts
    are 1..120 with no gap."""
    account_id, _ = _ready_on_one_account()
    engine = create_engine(get_settings().database_url, pool_size=4, max_overflow=0)
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    results: list[list[batch.Batch]] = [[], []]
    barrier = threading.Barrier(2)

    def drain(mine: list[batch.Batch]) -> None:
        barrier.wait(timeout=30)
        while True:
            with factory() as session, session.begin():
                done = batch.apply_ready(session, limit=20)
            mine.append(done)
            if done.claimed == 0:
                return

    threads = [threading.Thread(target=drain, args=(r,)) for r in results]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    engine.dispose()
    assert not any(t.is_alive() for t in threads)
    batches = [b for r in results for b in r]
    outcomes = [r.outcome for b in batches for r in b.results]
    assert outcomes.count(Outcome.APPLIED) == N_AFFORDABLE
    assert outcomes.count(Outcome.REJECTED) == N_INTENTS - N_AFFORDABLE
    assert not any(b.failed for b in batches)
    assert all(any(b.claimed for b in r) for r in results)  # both drains took intents
    with session_scope() as session:
        ledger_id = session.execute(text("SELECT ledger_account_id FROM savings_accounts WHERE id = :i"),
                                    {"i": account_id}).scalar_one()
        assert balance(session, ledger_id) == MINIMUM
        running = session.execute(text(
            "SELECT sum(credit - debit) OVER (ORDER BY entry_id) FROM journal_lines WHERE ledger_account_id = :a"
            " ORDER BY entry_id"), {"a": ledger_id}).scalars().all()
        assert min(running[1:]) >= MINIMUM
        applied = session.execute(select(PaymentIntent.id).where(PaymentIntent.state == "applied")).scalars().all()
    assert_applied_exactly_once(applied)  # receipts 1..120, no gap, one entry each
    assert_ledger_balanced()


def _plan_nodes(plan: dict) -> list[dict]:  # type: ignore[type-arg]
    return [plan, *(n for child in plan.get("Plans", []) for n in _plan_nodes(child))]


def test_a_claim_reads_the_intents_it_takes_not_the_whole_backlog(clean_db: str) -> None:
    """200 ready intents, a claim of 20: PostgreSQL walks the open intents' index in the
    claim's order and stops after 20. Before migration 0016 it read, probed and sorted
    all 200 on every claim, so a backlog made each claim dearer and the worker ran away
    under load (bench_payments at 120-150/s)."""
    _ready_on_one_account()
    with session_scope() as session:
        session.execute(text("ANALYZE payment_intents"))
        session.execute(text("ANALYZE funding_attempts"))
    with get_engine().connect() as conn:  # rolled back: EXPLAIN ANALYZE really locks the rows
        plan = conn.execute(text(f"EXPLAIN (ANALYZE, FORMAT JSON) {batch._CLAIM_READY_SQL.text}"),
                            {"limit": 20, "skip": [], "lock_wait": batch.LOCK_WAIT}).scalar_one()[0]["Plan"]
        conn.rollback()
    nodes = _plan_nodes(plan)
    assert not [n for n in nodes if "Sort" in n["Node Type"]], plan  # nor an Incremental Sort
    scans = [n for n in nodes if n.get("Relation Name") == "payment_intents"]
    assert [s.get("Index Name") for s in scans] == ["ix_payment_intents_pending_deadline"], plan
    assert scans[0]["Actual Rows"] == 20, plan  # the 20 it locks, not the 200 that wait
    with session_scope() as session:
        assert len(batch.ready_ids(session, limit=1000)) == N_INTENTS
