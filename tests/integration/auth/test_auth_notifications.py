"""Outbox and delivery: one message per fact, sent once, through real SMTP and the real
HTTP gateway; the SMS client's retries are bounded."""
from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from db import outbox
from db.engine import session_scope
from db.models import OutboxMessage
from integrations.sms import SmsDeliveryError, SmsGatewayClient, SmsRejected
from integrations.sms_gateway_dev import read_messages as read_sms
from tests.support.ports import free_port
from zona_privada.smtp_sink import read_messages as read_mail

pytestmark = pytest.mark.integration


def test_outbox_is_idempotent_and_task_sends_once(make_app, demo_creds, sinks) -> None:  # noqa: ANN001
    make_app()  # settings pointed at the sinks
    from workers.notification_tasks import send_outbox_message

    with session_scope() as db:
        first = outbox.enqueue(db, channel="email", recipient="a@example.coop", subject="Asunto", body="Hola",
                               dedupe_key="fact-1")
        again = outbox.enqueue(db, channel="email", recipient="a@example.coop", subject="Asunto", body="Hola",
                               dedupe_key="fact-1")
    assert first == again
    assert send_outbox_message.apply(args=[first]).get() == "sent"
    assert send_outbox_message.apply(args=[first]).get() == "skipped"  # a redelivered task
    assert [m["to"] for m in read_mail(sinks["mail_dir"])] == ["a@example.coop"]


def test_sms_message_needs_its_secret(make_app, demo_creds, sinks) -> None:  # noqa: ANN001
    make_app()
    from workers.notification_tasks import send_outbox_message

    with session_scope() as db:
        message_id = outbox.enqueue(db, channel="sms", recipient="3104567890", subject="s",
                                    body=f"clave {outbox.SECRET_PLACEHOLDER}", dedupe_key="fact-2")
    assert send_outbox_message.apply(args=[message_id]).get() == "failed"
    with session_scope() as db:
        row = db.get(OutboxMessage, message_id)
        assert row.status == "failed" and "secret" in row.last_error
    assert read_sms(sinks["sms_dir"]) == []


def test_sms_client_against_dev_gateway(sinks) -> None:  # noqa: ANN001
    client = SmsGatewayClient(sinks["sms_url"])
    first = client.send("3104567890", "Hola", idempotency_key="k-1")
    assert client.send("3104567890", "Hola", idempotency_key="k-1") == first  # retried request: one SMS
    assert [m["text"] for m in read_sms(sinks["sms_dir"])] == ["Hola"]
    with pytest.raises(SmsRejected):
        client.send("not-a-number", "Hola", idempotency_key="k-2")


def test_sms_client_retries_are_bounded() -> None:
    client = SmsGatewayClient(f"http://127.0.0.1:{free_port()}", connect_timeout_s=0.5, attempts=3)
    started = time.monotonic()
    with pytest.raises(SmsDeliveryError):
        client.send("3104567890", "Hola", idempotency_key="k-3")
    assert time.monotonic() - started < 5


def test_email_failure_is_retried_then_marked(make_app, demo_creds) -> None:  # noqa: ANN001
    make_app(ZONA_SMTP_PORT=free_port())  # nobody listens there
    from workers.notification_tasks import MAX_RETRIES, send_outbox_message

    with session_scope() as db:
        message_id = outbox.enqueue(db, channel="email", recipient="a@example.coop", subject="s", body="b",
                                    dedupe_key="fact-3")
    # Run eagerly, the retries follow one another at once: bounded, then marked failed.
    assert send_outbox_message.apply(args=[message_id]).get() == "failed"
    with session_scope() as db:
        row = db.execute(select(OutboxMessage).where(OutboxMessage.id == message_id)).scalar_one()
        assert row.status == "failed" and row.attempts == MAX_RETRIES + 1 and "EmailDeliveryError" in row.last_error


def test_enqueue_from_a_request_thread_reaches_the_broker(database_url) -> None:  # noqa: ANN001
    """Web servers enqueue from request threads, where Celery's current app is not ours."""
    import base64
    import json
    import threading

    import redis

    from workers.notification_tasks import enqueue_send
    from zona_privada.settings import get_settings

    broker = redis.Redis.from_url(get_settings().broker_redis_url)
    broker.flushdb()
    try:
        thread = threading.Thread(target=enqueue_send, args=(424242,), kwargs={"code_ref": "zp:otp:7:k|1"})
        thread.start()
        thread.join(10)
        # Ours among whatever else a shared broker holds (another run's nudges).
        bodies = [json.loads(base64.b64decode(json.loads(raw)["body"])) for raw in broker.lrange("celery", 0, -1)]
        ours = [(args, kwargs) for args, kwargs, _embed in bodies if args == [424242]]
        # Only a reference to the code's record travels: the worker draws the code.
        assert ours == [([424242], {"code_ref": "zp:otp:7:k|1", "audit_member_id": None})]
    finally:
        broker.flushdb()
