"""Faults with real processes: for each step and each ZONA_FAULT point, a real Celery
worker SIGKILLs itself there; a new worker (with a real beat running the reconciler)
applies every payment exactly once within 20 s of the restart. And a broker flushed with
payments in flight: the reconciler finishes them. The ledger stays balanced throughout."""
from __future__ import annotations

import dataclasses
import signal
import time
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text

from db.engine import session_scope
from db.member_summary import obligations_overview
from db.payments.intents import create_intent
from db.seed import bogota_today
from tests.processes import start_beat, start_worker, wait_for
from tests.support.ports import free_port
from tests.support.redis_scan import queued_tasks
from workers.faults import POINTS
from workers.payment_tasks import enqueue_intent
from zona_privada.settings import get_settings

from tests.support.payments import assert_applied_exactly_once, assert_ledger_balanced, balances_of, new_key

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RESTART_BUDGET_S = 20
TRANSFERS = (Decimal("10000"), Decimal("20000"), Decimal("30000"))


def fast_env(subprocess_env: dict[str, str], fault: str | None) -> dict[str, str]:
    env = dict(subprocess_env)
    # The beat also dispatches receipts: to a port of this test's own where nobody
    # listens (the default one may be a developer's running `zona up`).
    env.update(ZONA_INTENT_STEP_DEADLINE_S="1", ZONA_RECONCILER_PERIOD_S="0.5", ZONA_SMTP_PORT=str(free_port()))
    env.pop("ZONA_FAULT", None)
    if fault:
        env["ZONA_FAULT"] = fault
    return env


def create_payments(demo) -> tuple[list[int], Decimal]:  # noqa: ANN001
    """One loan installment and three transfers (Rentahorrito → Rentadiario)."""
    settings = dataclasses.replace(get_settings(), intent_step_deadline_s=1)
    ids = []
    with session_scope() as session:
        loan = next(l for l in obligations_overview(session, demo.member_id, bogota_today()) if l.obligation_id == demo.loan_id)
        ids.append(create_intent(session, member_id=demo.member_id, idempotency_key=new_key(), kind="payment",
                                 lines=[{"obligation_id": demo.loan_id, "amount": loan.next_installment}],
                                 funding=[{"savings_account_id": demo.rentadiario_id, "amount": loan.next_installment}],
                                 settings=settings)[0])
        for amount in TRANSFERS:
            ids.append(create_intent(session, member_id=demo.member_id, idempotency_key=new_key(), kind="transfer",
                                     lines=[{"target_savings_account_id": demo.rentadiario_id, "amount": amount}],
                                     funding=[{"savings_account_id": demo.rentahorrito_id, "amount": amount}],
                                     settings=settings)[0])
    return ids, loan.next_installment


def applied_count(ids: list[int]) -> int:
    with session_scope() as session:
        return session.execute(text("SELECT count(*) FROM payment_intents WHERE id = ANY(:ids) AND state = 'applied'"),
                               {"ids": ids}).scalar_one()


def check_money(demo, before: dict[int, Decimal], loan_payment: Decimal) -> None:  # noqa: ANN001
    after = balances_of(demo.member_id)
    moved = sum(TRANSFERS)
    gmf = Decimal(0)  # transfers between the member's own accounts: exempt (ET art. 879 num. 14)
    assert after[demo.rentadiario_id] - before[demo.rentadiario_id] == moved - loan_payment
    assert before[demo.rentahorrito_id] - after[demo.rentahorrito_id] == moved + gmf


def recover_and_check(demo, ids, before, loan_payment, env, tmp_path: Path) -> float:  # noqa: ANN001
    healthy = start_worker(fast_env(env, None), tmp_path, concurrency=2, name="healthy")
    restarted = time.monotonic()
    try:
        done = wait_for(lambda: applied_count(ids) == len(ids), RESTART_BUDGET_S, interval_s=0.2)
        elapsed = time.monotonic() - restarted
        assert done, f"only {applied_count(ids)}/{len(ids)} applied {RESTART_BUDGET_S}s after the restart:\n{healthy.log()}"
        time.sleep(1.5)  # let any duplicate re-drive land: it must change nothing
    finally:
        healthy.stop()
    assert_applied_exactly_once(ids)
    check_money(demo, before, loan_payment)
    assert_ledger_balanced()
    return elapsed


@pytest.mark.parametrize("step", ["apply", "reconcile"])
@pytest.mark.parametrize("point", POINTS)
def test_worker_killed_at_each_fault_point(demo, redis_client, subprocess_env, tmp_path, step: str, point: str) -> None:  # noqa: ANN001
    before = balances_of(demo.member_id)
    ids, loan_payment = create_payments(demo)
    if step == "apply":
        for intent_id in ids:
            enqueue_intent(intent_id)
    # step == "reconcile": the messages were lost; only the reconciler can finish them.
    beat = start_beat(fast_env(subprocess_env, None), tmp_path)
    faulty = start_worker(fast_env(subprocess_env, f"{step}:{point}"), tmp_path, concurrency=1, name="faulty")
    try:
        died = wait_for(lambda: not faulty.alive(), 30, interval_s=0.1)
        assert died, f"the worker never hit {step}:{point}:\n{faulty.log()}"
        assert faulty.popen.returncode == -signal.SIGKILL, faulty.log()
        assert "ZONA_FAULT" in faulty.log()
        if point == "after_commit" and step == "apply":
            assert applied_count(ids) >= 1  # it died after committing one payment
        elapsed = recover_and_check(demo, ids, before, loan_payment, subprocess_env, tmp_path)
        print(f"{step}:{point} all applied {elapsed:.1f}s after restart")
    finally:
        faulty.stop()
        beat.stop()


def test_broker_flushed_with_payments_in_flight(demo, redis_client, subprocess_env, tmp_path) -> None:  # noqa: ANN001
    before = balances_of(demo.member_id)
    ids, loan_payment = create_payments(demo)
    for intent_id in ids:
        enqueue_intent(intent_id)
    # One drain message carries all four (the nudge is coalesced: workers.payment_tasks).
    assert [t for t, _ in queued_tasks(get_settings().broker_redis_url)] == ["workers.payment_tasks.apply_ready"]
    redis_client.flushdb()  # every message is gone, the nudge's flag too
    beat = start_beat(fast_env(subprocess_env, None), tmp_path)
    try:
        elapsed = recover_and_check(demo, ids, before, loan_payment, subprocess_env, tmp_path)
        print(f"broker flushed: all applied {elapsed:.1f}s after the worker started")
        with session_scope() as session:
            redriven = session.execute(text("SELECT min(redrive_count) FROM payment_intents WHERE id = ANY(:ids)"),
                                       {"ids": ids}).scalar_one()
        assert redriven >= 1  # the reconciler, not a message, drove every one of them
    finally:
        beat.stop()
