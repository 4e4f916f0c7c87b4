"""The reconciler (issue 9 item 6): one claiming statement, per-intent backoff, a bounded
number of re-drives then the review queue, an attempt PSE may still approve past the
promise goes to review instead of expiring, and alerts in a transaction of their own."""
from __future__ import annotations

import dataclasses
import json
import re
import logging
from datetime import datetime, timedelta

import pytest
from sqlalchemy import event, select, text, update

from db.engine import get_engine, session_scope
from db.member_summary import obligations_overview
from db.models import PaymentIntent, ReviewItem, ReviewKind
from db.payments.intents import create_intent, utcnow
from db.payments.reconcile import reconcile
from db.seed import bogota_today
from domain.payment_states import IntentState
from domain.payment_steps import Step
from workers import payment_tasks
from zona_privada.settings import Settings, get_settings

from tests.support.payments import new_key, snapshot, one_intent

pytestmark = pytest.mark.integration


def deadline_of(intent_id: int) -> datetime | None:
    with session_scope() as session:
        return session.execute(select(PaymentIntent.step_deadline_at).where(PaymentIntent.id == intent_id)).scalar_one()


def settings_with(**changes: object) -> Settings:
    return dataclasses.replace(get_settings(), **changes)


@pytest.fixture
def poison_payment():  # noqa: ANN201
    """The database refuses every journal entry of the intents listed in poison_intents:
    their step fails on every run (a poison payment), through the real step code."""
    statements = [
        "CREATE TABLE IF NOT EXISTS poison_intents (id bigint PRIMARY KEY)",
        """CREATE OR REPLACE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN
               IF EXISTS (SELECT 1 FROM poison_intents WHERE id = NEW.payment_intent_id) THEN
                   RAISE EXCEPTION 'poison payment %', NEW.payment_intent_id;
               END IF;
               RETURN NEW;
           END $$""",
        "DROP TRIGGER IF EXISTS refuse_poison ON journal_entries",
        "CREATE TRIGGER refuse_poison BEFORE INSERT ON journal_entries FOR EACH ROW EXECUTE FUNCTION refuse_poison()",
    ]
    with get_engine().begin() as conn:
        for statement in statements:
            conn.execute(text(statement))
    yield
    with get_engine().begin() as conn:
        conn.execute(text("DROP TRIGGER refuse_poison ON journal_entries"))
        conn.execute(text("DROP TABLE poison_intents"))



def plant_unknown_pse_attempt(session, intent_id: int) -> int:  # noqa: ANN001
    """A PSE attempt whose create's answer was lost: `unknown` (inserted pending, then moved,
    as the state machine allows)."""
    attempt_id = session.execute(text(
        "INSERT INTO funding_attempts (intent_id, kind, state, amount, gmf_amount) "
        "VALUES (:i, 'pse', 'pending', 1000, 0) RETURNING id"), {"i": intent_id}).scalar_one()
    session.execute(text("UPDATE funding_attempts SET state = 'unknown' WHERE id = :a"), {"a": attempt_id})
    return attempt_id


def test_a_step_that_always_fails_is_redriven_a_bounded_number_of_times_then_reviewed(
    demo, poison_payment, redis_client,  # noqa: ANN001
) -> None:
    settings = settings_with(reconciler_redrive_max=3)
    intent_id, _ = one_intent(demo)
    with session_scope() as session:
        session.execute(text("INSERT INTO poison_intents VALUES (:i)"), {"i": intent_id})
    redriven = 0
    backoffs: list[timedelta] = []
    for _ in range(10):  # far more beats than the bound
        deadline = deadline_of(intent_id)
        if deadline is None:
            break
        now = deadline + timedelta(seconds=1)
        with session_scope() as session:
            result = reconcile(session, now=now, settings=settings)
        if result.redrives:
            assert [(r.intent_id, r.step) for r in result.redrives] == [(intent_id, Step.APPLY)]
            redriven += 1
            backoffs.append(deadline_of(intent_id) - now)  # type: ignore[operator]
            # The re-driven step runs for real and fails every time.
            with pytest.raises(Exception, match="poison payment"):
                payment_tasks.apply_intent(intent_id)
        else:
            assert result.reviewed == (intent_id,)
    assert redriven == 3
    assert backoffs == sorted(backoffs) and backoffs[0] < backoffs[-1]  # backs off per intent
    assert deadline_of(intent_id) is None  # nothing drives it any more
    with session_scope() as session:
        (item,) = session.execute(select(ReviewItem)).scalars().all()
        item_id = item.id
        assert (item.kind, item.payment_intent_id, item.state, item.resolved_at) == (
            ReviewKind.REDRIVES_EXHAUSTED.value, intent_id, "open", None)
        intent = session.get(PaymentIntent, intent_id)
        assert item.amount == intent.total_amount and intent.state is IntentState.CREATED
        assert item.detail["redrive_count"] == 3 and item.detail["attempts"][0]["state"] == "pending"
        # A later beat claims nothing and files nothing twice.
        assert reconcile(session, now=utcnow() + timedelta(days=1), settings=settings).redrives == ()
    with session_scope() as session:
        assert session.execute(select(ReviewItem.id)).scalars().all() == [item_id]


def test_an_unknown_attempt_outlives_the_expiry_of_its_intent(demo, redis_client) -> None:  # noqa: ANN001
    intent_id, _ = one_intent(demo)
    assert payment_tasks.hold_intent(intent_id)["state"] == "funding"
    with session_scope() as session:
        # PSE answered nothing clear: its attempt is `unknown` (a later approval must still land).
        attempt_id = plant_unknown_pse_attempt(session, intent_id)
        session.execute(text("UPDATE holds SET expires_at = now() - interval '1 second'"))
    # The window passed: the intent expires for the member and its savings are freed, but
    # the attempt PSE may still approve is left as it is (a late approval is applied or
    # refunded, never dropped: DESIGN §5).
    assert payment_tasks.expire_intent(intent_id)["state"] == IntentState.EXPIRED.value
    with session_scope() as session:
        states = dict(session.execute(text("SELECT kind, state FROM funding_attempts WHERE intent_id = :i"),
                                      {"i": intent_id}).all())
        holds = session.execute(text("SELECT state FROM holds")).scalars().all()
    assert states == {"savings": "voided", "pse": "unknown"} and holds == ["voided"]
    assert attempt_id


def test_a_funding_intent_claimed_after_its_window_and_the_promise_still_expires(demo, redis_client) -> None:  # noqa: ANN001
    intent_id, _ = one_intent(demo)
    with session_scope() as session:
        plant_unknown_pse_attempt(session, intent_id)  # before the hold: a PSE intent's funding window
    assert payment_tasks.hold_intent(intent_id)["state"] == "funding"
    # At its window's end it is re-driven (EXPIRE) ...
    with session_scope() as session:
        early = reconcile(session, now=deadline_of(intent_id) + timedelta(seconds=1))  # type: ignore[operator]
    assert [(r.intent_id, r.step) for r in early.redrives] == [(intent_id, Step.EXPIRE)]
    # ... and still when the reconciler only gets to it after the promise too (a backlog):
    # past its window it waits on PSE no longer, so expiry wins over review.
    late = utcnow() + timedelta(seconds=get_settings().payment_promise_s + 60)
    with session_scope() as session:
        result = reconcile(session, now=late)
    assert [(r.intent_id, r.step) for r in result.redrives] == [(intent_id, Step.EXPIRE)]
    assert result.reviewed == ()
    with session_scope() as session:
        assert session.execute(select(ReviewItem)).scalars().all() == []


def test_a_funding_intent_awaiting_pse_past_the_promise_goes_to_review(demo, redis_client) -> None:  # noqa: ANN001
    # Only where the funding window reaches past the promise (a setting an operator may
    # choose) can an intent still wait on PSE when the promise is broken: then it is
    # reviewed, not re-driven.
    settings = settings_with(pse_funding_window_s=get_settings().payment_promise_s + 600)
    intent_id, _ = one_intent(demo)
    with session_scope() as session:
        plant_unknown_pse_attempt(session, intent_id)
    assert payment_tasks.hold_intent(intent_id)["state"] == "funding"
    late = utcnow() + timedelta(seconds=settings.payment_promise_s + 60)
    with session_scope() as session:
        result = reconcile(session, now=late, settings=settings)
    assert result.redrives == () and result.reviewed == (intent_id,)
    with session_scope() as session:
        (item,) = session.execute(select(ReviewItem)).scalars().all()
        assert item.kind == ReviewKind.AWAITING_PAST_DEADLINE.value and item.payment_intent_id == intent_id
        states = sorted(a["state"] for a in item.detail["attempts"])
        assert states == ["held", "unknown"]
        assert session.get(PaymentIntent, intent_id).state is IntentState.FUNDING
        assert reconcile(session, now=late + timedelta(days=1), settings=settings).redrives == ()


def test_the_claim_is_one_statement(demo) -> None:  # noqa: ANN001
    ids = [one_intent(demo, o)[0] for o in (demo.aportes_id, demo.permanente_id, demo.loan_id)]
    with session_scope() as session:
        session.execute(update(PaymentIntent).values(step_deadline_at=utcnow() - timedelta(seconds=5)))
    seen: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:  # noqa: ANN001
        seen.append(statement)

    engine = get_engine()
    event.listen(engine, "before_cursor_execute", record)
    try:
        with session_scope() as session:
            result = reconcile(session)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert sorted(r.intent_id for r in result.redrives) == ids
    claims = [s for s in seen if "payment_intents" in s]
    assert len(claims) == 1, claims
    assert "FOR UPDATE SKIP LOCKED" in claims[0] and "RETURNING" in claims[0]


def test_alerts_do_not_roll_back_with_the_claim(demo, redis_client, caplog) -> None:  # noqa: ANN001
    intent_id, _ = one_intent(demo)
    with session_scope() as session:
        session.execute(update(PaymentIntent).where(PaymentIntent.id == intent_id)
                        .values(created_at=utcnow() - timedelta(hours=1),
                                step_deadline_at=utcnow() - timedelta(seconds=5)))
    # The claim fails (the database refuses the update); the alert must still be raised.
    with get_engine().begin() as conn:
        conn.execute(text("""CREATE OR REPLACE FUNCTION refuse_claim() RETURNS trigger LANGUAGE plpgsql AS $$
                             BEGIN RAISE EXCEPTION 'claim refused'; END $$"""))
        conn.execute(text("CREATE TRIGGER refuse_claim BEFORE UPDATE OF redrive_count ON payment_intents "
                          "FOR EACH ROW EXECUTE FUNCTION refuse_claim()"))
    try:
        with caplog.at_level(logging.ERROR, logger="db.payments.reconcile"):
            with pytest.raises(Exception, match="claim refused"):
                payment_tasks.reconcile_payments()
    finally:
        with get_engine().begin() as conn:
            conn.execute(text("DROP TRIGGER refuse_claim ON payment_intents"))
    assert any("payment_promise_breached" in r.getMessage() and str(intent_id) in r.getMessage()
               for r in caplog.records)
    assert payment_tasks.reconcile_payments()["alerts"] == [intent_id]


def test_a_waiting_drain_covers_every_ready_savings_payment_until_it_is_lost(demo, redis_client) -> None:  # noqa: ANN001
    first, _ = one_intent(demo)
    payment_tasks.enqueue_intent(first)  # a drain message waits in the broker (no worker here)
    second, _ = one_intent(demo, demo.aportes_id)  # nudge coalesced: the same drain will take it
    with session_scope() as session:
        session.execute(update(PaymentIntent).values(step_deadline_at=utcnow() - timedelta(seconds=5)))
    assert payment_tasks.reconcile_payments()["redriven"] == []
    redis_client.delete("celery")  # the drain message is lost
    assert sorted(payment_tasks.reconcile_payments()["redriven"]) == sorted([first, second])
    messages = [json.loads(m)["headers"]["argsrepr"] for m in redis_client.lrange("celery", 0, -1)]
    assert sorted(messages) == sorted([f"[{first}]", f"[{second}]"])  # re-driven one by one


def test_no_renudge_of_a_message_that_is_only_queued(demo, redis_client, monkeypatch) -> None:  # noqa: ANN001
    settings = dataclasses.replace(get_settings(), apply_batch=0)  # one message per payment
    monkeypatch.setattr(payment_tasks, "get_settings", lambda: settings)
    queued, _ = one_intent(demo)
    payment_tasks.enqueue_intent(queued)  # its message waits in the broker (no worker here)
    lost, _ = one_intent(demo, demo.aportes_id)  # its message was lost
    with session_scope() as session:
        session.execute(update(PaymentIntent).values(step_deadline_at=utcnow() - timedelta(seconds=5)))
    assert payment_tasks.reconcile_payments()["redriven"] == [lost]
    messages = [json.loads(m)["headers"]["argsrepr"] for m in redis_client.lrange("celery", 0, -1)]
    assert sorted(messages) == sorted([f"[{queued}]", f"[{lost}]"])  # no duplicate behind the waiting one
    with session_scope() as session:  # the queued one was not claimed: no count, no new deadline
        assert session.get(PaymentIntent, queued).redrive_count == 0
    redis_client.delete("celery")  # both messages lost now (a flushed broker)
    assert sorted(payment_tasks.reconcile_payments()["redriven"]) == [queued]  # `lost` backs off
    assert redis_client.llen("celery") == 1


def test_zona_review_lists_the_open_items(demo, poison_payment, redis_client, capsys) -> None:  # noqa: ANN001
    from zona_privada.cli import main

    assert main(["review"]) == 0
    assert "no open items" in capsys.readouterr().out
    intent_id, _ = one_intent(demo)
    with session_scope() as session:
        session.execute(update(PaymentIntent).values(step_deadline_at=utcnow() - timedelta(seconds=5),
                                                     redrive_count=get_settings().reconciler_redrive_max))
        assert reconcile(session).reviewed == (intent_id,)
    assert main(["review"]) == 0
    out = capsys.readouterr().out
    (line,) = [l for l in out.splitlines() if ReviewKind.REDRIVES_EXHAUSTED.value in l]
    assert f" {intent_id} " in line and "reintentos" in line


def test_the_databases_partial_index_covers_the_open_states(demo) -> None:  # noqa: ANN001
    from domain.payment_steps import OPEN_STATES

    with session_scope() as session:
        indexdef = session.execute(text(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_payment_intents_pending_deadline'")).scalar_one()
    predicate = indexdef.split("WHERE", 1)[1]
    assert set(re.findall(r"'([a-z_]+)'", predicate)) == {s.value for s in OPEN_STATES}


def test_a_failed_settle_leaves_an_unknown_attempt_alone_and_files_it_for_review(demo, redis_client) -> None:  # noqa: ANN001
    """Old code: _fail moved every non-held attempt to `failed` and raised
    IllegalTransition on an `unknown` one (so the reconciler re-drove the intent forever)."""
    from db.payments import processing
    from db.payments.processing import Outcome

    intent_id, _ = one_intent(demo, demo.aportes_id)
    assert payment_tasks.hold_intent(intent_id)["state"] == "funding"
    with session_scope() as session:
        attempt_id = plant_unknown_pse_attempt(session, intent_id)
        assert processing.mark_funded(session, intent_id).outcome is Outcome.FUNDED
        # Meanwhile the obligation stopped being payable: settle must fail, nothing applied in part.
        session.execute(text("UPDATE obligations SET status = 'closed' WHERE id = :o"), {"o": demo.aportes_id})
    assert payment_tasks.settle_intent(intent_id)["state"] == "failed"
    with session_scope() as session:
        states = dict(session.execute(text(
            "SELECT kind::text, state::text FROM funding_attempts WHERE intent_id = :i"), {"i": intent_id}).all())
        assert states == {"savings": "voided", "pse": "unknown"}  # the hold freed; PSE's answer still awaited
        (item,) = session.execute(select(ReviewItem)).scalars().all()
        assert item.kind == ReviewKind.FAILED_AWAITING_APPROVAL.value and item.payment_intent_id == intent_id
        assert [a["id"] for a in item.detail["attempts"]] == [attempt_id]
