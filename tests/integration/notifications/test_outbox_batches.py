"""Beat's dispatcher sends the payments' receipts in batches over one SMTP connection
each: every receipt exactly once, composed from the stored payment and kept in the row;
a refused message fails alone; a relay that is down delays everything with backoff and
loses nothing; messages that wait for a secret are never touched."""
from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import IntegrityError

from db import outbox
from db.engine import session_scope
from db.models import OutboxMessage
from db.payments.intents import create_intent
from integrations.sms_gateway_dev import read_messages as read_sms
from integrations.sms_gateway_dev import serve
from tests.support.ports import free_port
from workers.notification_tasks import BATCH_SIZE, dispatch_outbox
from zona_privada.settings import reset_settings_cache

from tests.integration.notifications.mail_helpers import REFUSED_DOMAIN, Payer, Sink, apply_transfers

pytestmark = pytest.mark.integration


def rows() -> dict[int, OutboxMessage]:
    with session_scope() as session:
        return {r.id: r for r in session.execute(select(OutboxMessage).order_by(OutboxMessage.id)).scalars()}


def receipt_rows(intent_ids: list[int]) -> dict[int, OutboxMessage]:
    with session_scope() as session:
        found = session.execute(select(OutboxMessage).where(OutboxMessage.payment_intent_id.in_(intent_ids)))
        return {r.payment_intent_id: r for r in found.scalars()}


def test_a_burst_of_receipts_goes_out_over_few_connections_once_each(payer: Payer, sink: Sink) -> None:
    intent_ids = apply_transfers(payer, 150)
    sink.start()
    results: list[int] = []
    # Two dispatchers at once (a backlog outlives one beat period): SKIP LOCKED splits
    # the work, nothing is sent twice.
    threads = [threading.Thread(target=lambda: results.append(dispatch_outbox())) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sum(results) == 150
    assert dispatch_outbox() == 0  # nothing left to send

    mails = sink.messages()
    assert len(mails) == 150 and all(payer.email in m["to"] for m in mails)
    assert sink.connections <= 2 * -(-150 // BATCH_SIZE), sink.connections  # one per batch, not per message
    stored = receipt_rows(intent_ids)
    assert {r.status for r in stored.values()} == {"sent"} and {r.attempts for r in stored.values()} == {1}
    with session_scope() as session:
        numbers = dict(session.execute(text(
            "SELECT id, receipt_number FROM payment_intents WHERE id = ANY(:ids)"), {"ids": intent_ids}).all())
    # Each mail is its own receipt, exactly once, and the row keeps the text that was sent.
    by_subject = {m["subject"]: m for m in mails}
    assert len(by_subject) == 150
    for intent_id, row in stored.items():
        assert row.subject == f"Comprobante de transferencia No. {numbers[intent_id]:010d}"
        assert by_subject[row.subject]["body"].strip().splitlines() == row.body.strip().splitlines()
        assert "Total: $1,000.00" in row.body and "Depósito a Rentahorrito" in row.body


def test_a_refused_message_fails_alone(payer: Payer, sink: Sink) -> None:
    intent_ids = apply_transfers(payer, 3)
    with session_scope() as session:  # the relay refuses one mailbox; another address is malformed
        session.execute(update(OutboxMessage).where(OutboxMessage.payment_intent_id == intent_ids[0])
                        .values(recipient=f"nadie@{REFUSED_DOMAIN}"))
        session.execute(update(OutboxMessage).where(OutboxMessage.payment_intent_id == intent_ids[1])
                        .values(recipient="nadie@"))
    sink.start()
    assert dispatch_outbox() == 1
    stored = receipt_rows(intent_ids)
    assert stored[intent_ids[2]].status == "sent"
    for intent_id in intent_ids[:2]:  # refused for good (5xx, or unusable): not retried
        row = stored[intent_id]
        assert row.status == "failed" and row.attempts == 1 and row.body is None, row.last_error
    assert "550" in stored[intent_ids[0]].last_error
    assert [m["to"] for m in sink.messages()] == [payer.email]
    assert sink.connections == 1


def test_relay_down_backs_off_then_delivers(payer: Payer, sink: Sink) -> None:
    intent_ids = apply_transfers(payer, 3)
    assert dispatch_outbox() == 0  # nobody listens on the relay's port
    stored = receipt_rows(intent_ids)
    for row in stored.values():
        assert row.status == "pending" and row.attempts == 1 and "EmailDeliveryError" in row.last_error
        assert row.next_attempt_at - row.created_at >= timedelta(seconds=outbox.RETRY_BASE_S - 5)
    sink.start()
    assert dispatch_outbox() == 0 and sink.messages() == []  # still backing off
    with session_scope() as session:  # the backoff has passed
        session.execute(update(OutboxMessage).values(next_attempt_at=OutboxMessage.next_attempt_at
                                                     - timedelta(seconds=outbox.RETRY_MAX_S)))
    assert dispatch_outbox() == 3
    assert len(sink.messages()) == 3
    stored = receipt_rows(intent_ids)
    assert all(r.status == "sent" and r.attempts == 2 and r.last_error is None for r in stored.values())


def test_a_receipt_of_a_payment_not_applied_waits(payer: Payer, sink: Sink) -> None:
    """Should never happen: the payment step queues the receipt as it applies. If it
    does, the message stays pending with the reason, and the rest go out."""
    applied = apply_transfers(payer, 1)
    with session_scope() as session:
        pending_id, _ = create_intent(
            session, member_id=payer.member_id, idempotency_key="not-applied-yet", kind="transfer",
            lines=[{"target_savings_account_id": payer.rentahorrito_id, "amount": Decimal("1000")}],
            funding=[{"savings_account_id": payer.rentadiario_id, "amount": Decimal("1000")}],
        )
        outbox.enqueue_receipt(session, intent_id=pending_id, member_id=payer.member_id)
    sink.start()
    assert dispatch_outbox() == 1
    stored = receipt_rows(applied + [pending_id])
    assert stored[applied[0]].status == "sent"
    waiting = stored[pending_id]
    assert waiting.status == "pending" and waiting.body is None and "not applied" in waiting.last_error
    assert waiting.next_attempt_at is not None
    assert [m["subject"] for m in sink.messages()] == ["Comprobante de transferencia No. 0000000001"]
    # That payment ends without being applied: its receipt will never have a text, so
    # the message fails for good instead of being retried forever.
    with session_scope() as session:
        session.execute(text("UPDATE payment_intents SET state = 'expired' WHERE id = :id"), {"id": pending_id})
        session.execute(update(OutboxMessage).values(next_attempt_at=None))
    assert dispatch_outbox() == 0
    ended = receipt_rows([pending_id])[pending_id]
    assert ended.status == "failed" and "ended expired" in ended.last_error


def test_secrets_are_never_batched_and_web_messages_get_their_grace(payer: Payer, sink: Sink) -> None:
    with session_scope() as session:
        secret_id = outbox.enqueue(session, channel="email", recipient=payer.email, subject="Clave temporal",
                                   body=f"Su clave es {outbox.SECRET_PLACEHOLDER}", dedupe_key="temp-key-1")
        secret_sms_id = outbox.enqueue(session, channel="sms", recipient="3104567890", subject="Clave",
                                       body=f"Clave {outbox.SECRET_PLACEHOLDER}", dedupe_key="temp-key-2")
        lost_id = outbox.enqueue(session, channel="email", recipient=payer.email, subject="Bloqueo",
                                 body="Su acceso fue bloqueado", dedupe_key="lockout-1")
        fresh_id = outbox.enqueue(session, channel="email", recipient=payer.email, subject="Cambio de clave",
                                  body="Su clave cambió", dedupe_key="changed-1")
        # Written a minute ago: their own send tasks were lost.
        session.execute(update(OutboxMessage).where(OutboxMessage.id.in_([secret_id, secret_sms_id, lost_id]))
                        .values(created_at=OutboxMessage.created_at - timedelta(seconds=60)))
    sink.start()
    assert dispatch_outbox() == 1
    found = rows()
    assert found[lost_id].status == "sent"  # caught up
    assert found[fresh_id].status == "pending" and found[fresh_id].attempts == 0  # its own task has it
    for secret in (secret_id, secret_sms_id):  # never touched: the secret is only in the task
        assert (found[secret].status, found[secret].attempts, found[secret].last_error) == ("pending", 0, None)
    assert [m["subject"] for m in sink.messages()] == ["Bloqueo"]


def test_a_lost_sms_without_a_secret_goes_out_through_the_gateway(payer: Payer, sink: Sink, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    server = serve("127.0.0.1", port, tmp_path / "sms")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("ZONA_SMS_GATEWAY_URL", f"http://127.0.0.1:{port}")
    reset_settings_cache()
    try:
        with session_scope() as session:
            message_id = outbox.enqueue(session, channel="sms", recipient="3104567890", subject="Aviso",
                                        body="Cooperativa Alianza: su acceso fue bloqueado.", dedupe_key="sms-1")
            session.execute(update(OutboxMessage).values(created_at=OutboxMessage.created_at - timedelta(seconds=60)))
        assert dispatch_outbox() == 1 and dispatch_outbox() == 0
        assert [m["text"] for m in read_sms(tmp_path / "sms")] == ["Cooperativa Alianza: su acceso fue bloqueado."]
        assert rows()[message_id].status == "sent" and sink.connections == 0  # no e-mail, no SMTP connection
    finally:
        server.shutdown()
        server.server_close()


def test_enqueue_receipt_is_one_row_per_intent_and_none_without_an_address(payer: Payer) -> None:
    [intent_id] = apply_transfers(payer, 1)
    with session_scope() as session:  # a re-run of the payment step
        outbox.enqueue_receipt(session, intent_id=intent_id, member_id=payer.member_id)
    [row] = rows().values()
    assert (row.channel, row.recipient, row.dedupe_key, row.payment_intent_id, row.subject, row.body) == (
        "email", payer.email, f"payment-receipt:{intent_id}", intent_id, None, None)
    with session_scope() as session:
        session.execute(text("TRUNCATE notification_outbox"))
        session.execute(text("UPDATE members SET email = '  ' WHERE id = :m"), {"m": payer.member_id})
        outbox.enqueue_receipt(session, intent_id=intent_id, member_id=payer.member_id)
    assert rows() == {}


def test_rows_stay_honest(payer: Payer) -> None:
    [intent_id] = apply_transfers(payer, 1)
    bad = {
        "no text and no payment": "INSERT INTO notification_outbox (channel, recipient, dedupe_key)"
                                  " VALUES ('email', 'a@example.coop', 'x1')",
        "half composed": "UPDATE notification_outbox SET subject = 's'",
        "sent without its text": "UPDATE notification_outbox SET status = 'sent'",
    }
    for what, statement in bad.items():
        with pytest.raises(IntegrityError), session_scope() as session:
            session.execute(text(statement))
            pytest.fail(what)  # not reached: the statement above must fail
    assert receipt_rows([intent_id])[intent_id].status == "pending"
