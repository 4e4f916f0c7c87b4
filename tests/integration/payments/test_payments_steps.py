"""Every step run twice changes nothing the second time (tasks called in-process, through
their real code), the two-phase holds, and the reconciler's re-drive, backoff, SKIP
LOCKED and half-hour alert."""
from __future__ import annotations

import dataclasses
import json
import logging
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select, text, update

from db.engine import get_engine, session_scope
from db.member_summary import obligations_overview
from db.models import FundingAttempt, PaymentIntent
from db.payments import processing
from db.payments.intents import create_intent, utcnow
from db.payments.processing import Outcome
from db.payments.reconcile import promise_breaches, reconcile
from db.seed import bogota_today
from domain.money import gmf
from workers import payment_tasks
from zona_privada.settings import get_settings

from tests.support.payments import assert_applied_exactly_once, assert_ledger_balanced, available, balances_of, new_key, snapshot, one_intent

pytestmark = pytest.mark.integration


def test_apply_task_twice(demo, redis_client) -> None:  # noqa: ANN001
    intent_id, _ = one_intent(demo)
    assert payment_tasks.apply_intent(intent_id)["outcome"] == "applied"
    first = snapshot()
    assert payment_tasks.apply_intent(intent_id)["outcome"] == "nothing_to_do"
    assert snapshot() == first
    assert_applied_exactly_once([intent_id])


def past_deadline(intent_id: int, seconds: int = 5) -> None:
    with session_scope() as session:
        session.execute(update(PaymentIntent).where(PaymentIntent.id == intent_id)
                        .values(step_deadline_at=utcnow() - timedelta(seconds=seconds)))


def queued_messages(redis_client) -> list[dict]:  # noqa: ANN001
    return [json.loads(m) for m in redis_client.lrange("celery", 0, -1)]


def test_reconcile_task_twice_redrives_once(demo, redis_client) -> None:  # noqa: ANN001
    intent_id, _ = one_intent(demo)  # created, never enqueued: a lost message
    past_deadline(intent_id)
    assert payment_tasks.reconcile_payments()["redriven"] == [intent_id]
    first = snapshot()
    assert payment_tasks.reconcile_payments()["redriven"] == []
    assert snapshot() == first
    sent = [m["headers"]["task"] for m in queued_messages(redis_client)]
    assert sent == ["workers.payment_tasks.apply_intent"]
    with session_scope() as session:
        intent = session.get(PaymentIntent, intent_id)
        assert intent.redrive_count == 1 and intent.step_deadline_at > utcnow()
    # The re-driven step applies it.
    assert payment_tasks.apply_intent(intent_id)["outcome"] == "applied"
    assert payment_tasks.reconcile_payments()["redriven"] == []


def test_reconciler_skips_an_intent_a_worker_holds(demo) -> None:  # noqa: ANN001
    intent_id, _ = one_intent(demo)
    past_deadline(intent_id)
    with get_engine().connect() as busy:
        busy.execute(text("SELECT id FROM payment_intents WHERE id = :i FOR UPDATE"), {"i": intent_id})
        with session_scope() as session:
            assert reconcile(session).redrives == ()
        busy.rollback()
    with session_scope() as session:
        assert [r.intent_id for r in reconcile(session).redrives] == [intent_id]


def test_alert_for_intents_older_than_the_promise(demo, caplog) -> None:  # noqa: ANN001
    intent_id, _ = one_intent(demo)
    with session_scope() as session:
        session.execute(update(PaymentIntent).where(PaymentIntent.id == intent_id)
                        .values(created_at=utcnow() - timedelta(hours=1)))
    with caplog.at_level(logging.ERROR, logger="db.payments.reconcile"):
        with session_scope() as session:
            alerted = promise_breaches(session)
    assert alerted == [intent_id]
    alerts = [json.loads(r.getMessage()) for r in caplog.records if "payment_promise_breached" in r.getMessage()]
    assert alerts and alerts[0]["payment_intent_id"] == intent_id and alerts[0]["age_s"] >= 3600
    processing_result = None
    with session_scope() as session:
        processing_result = processing.apply_intent(session, intent_id)
    assert processing_result.outcome is Outcome.APPLIED
    with session_scope() as session:
        assert promise_breaches(session) == []


def test_enqueue_intent_nudges_one_drain_that_applies_and_clears_the_flag(demo, redis_client) -> None:  # noqa: ANN001
    first, _ = one_intent(demo)
    second, _ = one_intent(demo, obligation_id=demo.aportes_id)
    assert payment_tasks.enqueue_intent(first) == "apply"
    assert payment_tasks.enqueue_intent(second) == "apply"  # coalesced with the first nudge
    (message,) = queued_messages(redis_client)
    assert message["headers"]["task"] == "workers.payment_tasks.apply_ready"
    assert redis_client.exists(payment_tasks.NUDGE_KEY)
    assert payment_tasks.apply_ready() == {"applied": 2, "busy": 0, "failed": 0}
    assert not redis_client.exists(payment_tasks.NUDGE_KEY)  # the next commit publishes again
    assert_applied_exactly_once([first, second])
    assert payment_tasks.apply_ready() == {"busy": 0, "failed": 0}  # a duplicate drain: nothing


def test_a_drain_that_finds_a_full_batch_asks_one_more_process_to_share(demo, redis_client, monkeypatch) -> None:  # noqa: ANN001
    settings = dataclasses.replace(get_settings(), apply_batch=1)
    monkeypatch.setattr(payment_tasks, "get_settings", lambda: settings)
    first, _ = one_intent(demo)
    second, _ = one_intent(demo, obligation_id=demo.aportes_id)
    assert payment_tasks.apply_ready() == {"applied": 2, "busy": 0, "failed": 0}
    # Its first batch was full: one helper was asked for (once, not per full batch).
    assert [m["headers"]["task"] for m in queued_messages(redis_client)] == ["workers.payment_tasks.apply_ready"]
    assert_applied_exactly_once([first, second])


def test_enqueue_intent_without_batches_sends_the_apply_step(demo, redis_client, monkeypatch) -> None:  # noqa: ANN001
    settings = dataclasses.replace(get_settings(), apply_batch=0)
    monkeypatch.setattr(payment_tasks, "get_settings", lambda: settings)
    intent_id, _ = one_intent(demo)
    assert payment_tasks.enqueue_intent(intent_id) == "apply"
    (message,) = queued_messages(redis_client)
    assert message["headers"]["task"] == "workers.payment_tasks.apply_intent"
    assert message["headers"]["argsrepr"] == f"[{intent_id}]"


def test_two_phase_hold_posted_then_applied(demo, redis_client) -> None:  # noqa: ANN001
    # Until PSE lands nothing creates a mixed intent; the hold steps are driven directly.
    intent_id, amount = one_intent(demo, account_id=demo.rentahorrito_id)
    before = available(demo.member_id)[demo.rentahorrito_id]
    assert payment_tasks.hold_intent(intent_id)["outcome"] == "held"
    held = snapshot()
    assert payment_tasks.hold_intent(intent_id)["outcome"] == "nothing_to_do" and snapshot() == held
    tax = gmf(amount)  # the one GMF rounding rule (half up to the peso)
    assert before - available(demo.member_id)[demo.rentahorrito_id] == amount + tax  # reserved, not moved
    assert held["journal_entries"] == snapshot()["journal_entries"]
    with session_scope() as session:
        result = processing.mark_funded(session, intent_id)
    # It moved the state: it says so (never "nothing to do") and names the next step.
    assert result.outcome is Outcome.FUNDED and result.next_steps == ("settle",)
    assert payment_tasks.settle_intent(intent_id)["outcome"] == "applied"
    settled = snapshot()
    assert payment_tasks.settle_intent(intent_id)["outcome"] == "nothing_to_do" and snapshot() == settled
    assert [h[1] for h in settled["holds"]] == ["posted"]
    # Posted: the money moved once; the hold no longer reserves anything.
    assert before - available(demo.member_id)[demo.rentahorrito_id] == amount + tax
    assert_applied_exactly_once([intent_id])
    assert_ledger_balanced()


def test_two_phase_hold_voided_when_it_expires(demo, redis_client) -> None:  # noqa: ANN001
    intent_id, _ = one_intent(demo)
    before = available(demo.member_id)[demo.rentadiario_id]
    payment_tasks.hold_intent(intent_id)
    assert available(demo.member_id)[demo.rentadiario_id] < before
    assert payment_tasks.expire_intent(intent_id)["outcome"] == "nothing_to_do"  # TTL not reached
    with session_scope() as session:
        session.execute(text("UPDATE holds SET expires_at = now() - interval '1 second'"))
    entries = snapshot()["journal_entries"]
    assert payment_tasks.expire_intent(intent_id)["state"] == "expired"
    voided = snapshot()
    assert payment_tasks.expire_intent(intent_id)["outcome"] == "nothing_to_do" and snapshot() == voided
    assert [h[1] for h in voided["holds"]] == ["voided"] and voided["journal_entries"] == entries
    assert available(demo.member_id)[demo.rentadiario_id] == before
    with session_scope() as session:
        attempt = session.execute(select(FundingAttempt)).scalar_one()
        assert attempt.state.value == "voided"


def test_hold_counts_against_other_payments(demo) -> None:  # noqa: ANN001
    """A pending hold lowers the available balance the next payment is checked against."""
    intent_id, amount = one_intent(demo, obligation_id=demo.aportes_id)
    payment_tasks.hold_intent(intent_id)
    with session_scope() as session:
        rows = session.execute(text("SELECT amount FROM holds")).scalars().all()
    assert rows == [amount]


def test_hold_posts_what_it_reserved_even_if_the_exemption_flips(demo, redis_client) -> None:  # noqa: ANN001
    """The hold reserves amount + GMF as decided then; settle recomputed GMF from the
    account's current flag, so an exemption flipped in between debited amount + GMF
    against a hold of the amount alone, below the minimum balance."""
    from db.member_summary import savings_overview
    from db.models import SavingsAccount

    account_id = demo.rentadiario_id
    with session_scope() as session:
        amount = {l.obligation_id: l.next_installment
                  for l in obligations_overview(session, demo.member_id, bogota_today())}[demo.loan_id]
        [line] = [s for s in savings_overview(session, demo.member_id) if s.savings_account_id == account_id]
        # The payment takes all the account can spend: nothing is left for a GMF.
        minimum = line.balance - line.held - amount
        session.execute(update(SavingsAccount).where(SavingsAccount.id == account_id)
                        .values(gmf_exempt=True, minimum_balance=minimum))
    with session_scope() as session:
        intent_id, _ = create_intent(session, member_id=demo.member_id, idempotency_key=new_key(), kind="payment",
                                     lines=[{"obligation_id": demo.loan_id, "amount": amount}],
                                     funding=[{"savings_account_id": account_id, "amount": amount}])
    assert payment_tasks.hold_intent(intent_id)["outcome"] == "held"
    with session_scope() as session:
        session.execute(update(SavingsAccount).where(SavingsAccount.id == account_id).values(gmf_exempt=False))
        processing.mark_funded(session, intent_id)
    before = balances_of(demo.member_id)[account_id]
    assert payment_tasks.settle_intent(intent_id)["outcome"] == "applied"
    after = balances_of(demo.member_id)[account_id]
    assert before - after == amount  # exactly what was reserved: no GMF appeared at settle
    assert after >= minimum
    with session_scope() as session:
        hold_amount, attempt_gmf = session.execute(text(
            "SELECT h.amount, f.gmf_amount FROM holds h JOIN funding_attempts f ON f.id = h.attempt_id"
            " WHERE f.intent_id = :i"), {"i": intent_id}).one()
    assert (hold_amount, attempt_gmf) == (amount, Decimal("0.00"))
    assert_applied_exactly_once([intent_id])
    assert_ledger_balanced()


def test_json_log_lines_of_a_real_step_carry_payment_intent_id(demo, redis_client, caplog) -> None:  # noqa: ANN001
    """DESIGN §7: every log line of a payment carries `payment_intent_id`, the field an
    operator greps (the old check built a record by hand with that field while the code
    wrote `intent_id`)."""
    from zona_privada.logs import JsonFormatter

    intent_id, _ = one_intent(demo)
    with caplog.at_level(logging.INFO):
        assert payment_tasks.apply_intent(intent_id)["outcome"] == "applied"
    lines = [json.loads(JsonFormatter().format(r)) for r in caplog.records
             if r.name.startswith(("db.payments", "workers.payment_tasks"))]
    assert {line["msg"] for line in lines} >= {"payment intent applied", "payment step done"}
    assert all(line.get("payment_intent_id") == intent_id for line in lines), lines
    assert not any("intent_id" in line for line in lines)
