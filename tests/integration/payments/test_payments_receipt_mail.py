"""The receipt e-mail a payment writes to the outbox reaches the member: beat's
dispatcher nudges it, a real worker sends it over real SMTP, exactly once."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from db.engine import session_scope
from db.models import OutboxMessage
from db.payments.processing import Outcome, apply_intent
from tests.conftest import free_port
from tests.processes import start, start_worker, wait_for
from workers.notification_tasks import dispatch_outbox
from zona_privada.smtp_sink import read_messages

from conftest import new_key  # type: ignore[import-not-found]

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_receipt_mail_is_dispatched_and_sent_once(demo, redis_client, subprocess_env, tmp_path: Path) -> None:  # noqa: ANN001
    from db.payments.intents import create_intent

    with session_scope() as session:
        intent_id, _ = create_intent(
            session, member_id=demo.member_id, idempotency_key=new_key(), kind="payment",
            lines=[{"obligation_id": demo.aportes_id, "amount": "3800"}],
            funding=[{"savings_account_id": demo.rentadiario_id, "amount": "3800"}],
        )
    with session_scope() as session:
        assert apply_intent(session, intent_id).outcome is Outcome.APPLIED

    port = free_port()
    env = dict(subprocess_env, ZONA_SMTP_PORT=str(port))
    sink = start("smtp", [sys.executable, "-m", "zona_privada.smtp_sink", "--port", str(port),
                          "--folder", str(tmp_path / "mail")], env, tmp_path)
    worker = start_worker(env, tmp_path, concurrency=1)
    try:
        # Not yet stale: the dispatcher leaves a message alone for its first seconds.
        assert wait_for(lambda: dispatch_outbox() >= 1, 10), "the receipt was never dispatched"
        assert wait_for(lambda: read_messages(tmp_path / "mail"), 30), worker.log()
        dispatch_outbox()  # a second scan must not send it again
        with session_scope() as session:
            row = session.execute(select(OutboxMessage)).scalar_one()
            assert wait_for(lambda: _status(row.id) == "sent", 10)
        mails = read_messages(tmp_path / "mail")
        assert len(mails) == 1 and "maria.rojas@example.coop" in mails[0]["to"]
        assert "$3,800.00" in mails[0]["body"]
    finally:
        worker.stop()
        sink.stop()


def _status(message_id: int) -> str:
    with session_scope() as session:
        return session.get(OutboxMessage, message_id).status


def test_dispatcher_does_not_requeue_a_message_on_its_way(demo) -> None:  # noqa: ANN001
    """A scan gives each message its next nudge time: scanning again at once finds
    nothing, so a slow or absent SMTP server never floods the queue."""
    from datetime import timedelta

    from db import outbox

    with session_scope() as session:
        message_id = outbox.enqueue(session, channel="email", recipient="x@example.coop", subject="s", body="b",
                                    dedupe_key="test-redispatch")
        session.get(OutboxMessage, message_id).created_at -= timedelta(seconds=60)
    with session_scope() as session:
        assert outbox.claim_stale_pending(session, older_than_s=2) == [message_id]
    with session_scope() as session:
        assert outbox.claim_stale_pending(session, older_than_s=2) == []
        row = session.get(OutboxMessage, message_id)
        row.next_attempt_at -= timedelta(seconds=outbox.REDISPATCH_MAX_S)  # the backoff has passed
    with session_scope() as session:
        assert outbox.claim_stale_pending(session, older_than_s=2) == [message_id]
