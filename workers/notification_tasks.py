"""Notification tasks: send one outbox message by e-mail (SMTP) or SMS (HTTP gateway).

Thin: claim the row, deliver through `integrations/`, mark it sent, in one transaction.
The row lock (SKIP LOCKED) keeps a redelivered copy of the task from sending in parallel;
a message already sent is skipped. A temporary key never enters the database: it comes
in the task's arguments (hidden from logs and Flower by `argsrepr`) and is put into the
text just before delivery."""
from __future__ import annotations

import logging

from celery import shared_task

from db import audit, outbox
from db.engine import session_scope
from integrations.email import EmailDeliveryError, SmtpMailer
from integrations.sms import SmsDeliveryError, SmsGatewayClient, SmsRejected
from zona_privada.settings import get_settings

log = logging.getLogger(__name__)

MAX_RETRIES = 5
RETRY_BACKOFF_S = (2, 5, 15, 30, 60)
REDACTED = "'***'"


class MissingSecret(Exception):
    """The message needs a secret the task was not given: it can never be sent."""


def _fill(body: str, secret: str | None) -> str:
    if outbox.SECRET_PLACEHOLDER not in body:
        return body
    if not secret:
        raise MissingSecret("message needs a secret that is no longer available")
    return body.replace(outbox.SECRET_PLACEHOLDER, secret)


def _deliver(message: outbox.Outgoing, body: str) -> None:
    settings = get_settings()
    if message.channel == "email":
        SmtpMailer(settings.smtp_host, settings.smtp_port, settings.mail_from).send(message.recipient, message.subject, body)
    else:
        SmsGatewayClient(settings.sms_gateway_url).send(message.recipient, body, idempotency_key=f"outbox-{message.id}")


@shared_task(name="workers.notification_tasks.send_outbox_message", bind=True, acks_late=True,
             max_retries=MAX_RETRIES)
def send_outbox_message(self, message_id: int, secret: str | None = None,  # noqa: ANN001
                        audit_member_id: int | None = None) -> str:
    try:
        with session_scope() as session:
            message = outbox.claim_pending(session, message_id)
            if message is None:
                return "skipped"
            _deliver(message, _fill(message.body, secret))
            outbox.mark_sent(session, message_id)
            if audit_member_id is not None:
                audit.record(session, "temp_key_sent", None, member_id=audit_member_id, channel=message.channel,
                             outbox_id=message_id)
    except (SmsRejected, MissingSecret) as exc:
        _record_failure(message_id, exc, final=True)
        return "failed"
    except (EmailDeliveryError, SmsDeliveryError) as exc:
        final = self.request.retries >= MAX_RETRIES
        _record_failure(message_id, exc, final=final)
        if final:
            return "failed"
        countdown = RETRY_BACKOFF_S[min(self.request.retries, len(RETRY_BACKOFF_S) - 1)]
        raise self.retry(exc=exc, countdown=countdown, argsrepr=f"({message_id},)",
                         kwargsrepr=f"{{'secret': {REDACTED}, 'audit_member_id': {audit_member_id}}}") from exc
    log.info("outbox message sent", extra={"outbox_id": message_id})
    return "sent"


def _record_failure(message_id: int, exc: Exception, *, final: bool) -> None:
    log.warning("outbox message not sent", extra={"outbox_id": message_id, "error": str(exc)[:200], "final": final})
    with session_scope() as session:
        outbox.mark_attempt_failed(session, message_id, f"{type(exc).__name__}: {exc}", final=final)


def enqueue_send(message_id: int, *, secret: str | None = None, audit_member_id: int | None = None) -> None:
    """Call only after the transaction that wrote the message has committed. The secret
    travels only in the message, redacted from logs and Flower."""
    send_outbox_message.apply_async(
        args=[message_id],
        kwargs={"secret": secret, "audit_member_id": audit_member_id},
        argsrepr=f"({message_id},)",
        kwargsrepr=f"{{'secret': {REDACTED if secret else None}, 'audit_member_id': {audit_member_id}}}",
    )


DISPATCH_AFTER_S = 2.0


@shared_task(name="workers.notification_tasks.dispatch_outbox", acks_late=True)
def dispatch_outbox() -> int:
    """Beat: nudge every pending message that is not already on its way (receipts that
    payments wrote in their own transaction, or whose send task died). Sending twice is
    prevented by `claim_pending`'s row lock and status check, not by this scan."""
    with session_scope() as session:
        ids = outbox.claim_stale_pending(session, older_than_s=DISPATCH_AFTER_S)
    for message_id in ids:
        enqueue_send(message_id)
    return len(ids)
