"""The receipt e-mail of a real applied payment reaches the member: the payment step
queues it bare, beat's dispatcher (real beat, real worker, real SMTP) composes and sends
it within seconds, exactly once, and the row keeps what was sent."""
from __future__ import annotations

import sys
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select

from db.engine import session_scope
from db.models import OutboxMessage
from db.payments.intents import create_intent
from db.payments.processing import Outcome, apply_intent
from tests.support.ports import free_port
from tests.processes import start, start_beat, start_worker, wait_for
from workers.notification_tasks import dispatch_outbox
from zona_privada.smtp_sink import read_messages

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RECEIPT_DELIVERY_S_MAX = 10.0


def test_receipt_mail_is_sent_once_within_seconds(demo, redis_client, subprocess_env, tmp_path: Path) -> None:  # noqa: ANN001
    port = free_port()
    env = dict(subprocess_env, ZONA_SMTP_PORT=str(port))
    mail_dir = tmp_path / "mail"
    sink = start("smtp", [sys.executable, "-m", "zona_privada.smtp_sink", "--port", str(port),
                          "--folder", str(mail_dir)], env, tmp_path)
    worker = start_worker(env, tmp_path, concurrency=1)
    beat = start_beat(env, tmp_path)
    try:
        assert wait_for(lambda: " ready." in worker.log(), 30), worker.log()
        with session_scope() as session:
            intent_id, _ = create_intent(
                session, member_id=demo.member_id, idempotency_key=uuid.uuid4().hex, kind="payment",
                lines=[{"obligation_id": demo.aportes_id, "amount": "3800"}],
                funding=[{"savings_account_id": demo.rentadiario_id, "amount": "3800"}],
            )
        with session_scope() as session:
            assert apply_intent(session, intent_id).outcome is Outcome.APPLIED
        applied_at = time.monotonic()
        with session_scope() as session:  # queued bare: the payment did not compose it
            row = session.execute(select(OutboxMessage)).scalar_one()
            assert (row.payment_intent_id, row.subject, row.body, row.status) == (intent_id, None, None, "pending")

        assert wait_for(lambda: read_messages(mail_dir), RECEIPT_DELIVERY_S_MAX), worker.log() + beat.log()
        assert time.monotonic() - applied_at <= RECEIPT_DELIVERY_S_MAX
        assert wait_for(lambda: _row(row.id).status == "sent", 5)
        assert dispatch_outbox() == 0  # a second dispatch does not resend
        time.sleep(3)  # nor do beat's next runs
        mails = read_messages(mail_dir)
        assert len(mails) == 1 and "maria.rojas@example.coop" in mails[0]["to"]
        assert mails[0]["subject"] == "Comprobante de pago No. 0000000001"
        assert "$3,800.00" in mails[0]["body"]
        sent = _row(row.id)
        assert (sent.status, sent.attempts, sent.subject) == ("sent", 1, mails[0]["subject"])
        assert sent.body.strip().splitlines() == mails[0]["body"].strip().splitlines()  # the line ends are SMTP's
        assert sent.sent_at is not None
    finally:
        beat.stop()
        worker.stop()
        sink.stop()


def _row(message_id: int) -> OutboxMessage:
    with session_scope() as session:
        return session.get(OutboxMessage, message_id)
