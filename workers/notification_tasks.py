"""Notification tasks: send outbox messages by e-mail (SMTP) or SMS (HTTP gateway).

`send_outbox_message` sends one message the web just wrote (latency matters: a member
waits for the key). `dispatch_outbox`, on beat, sends the payments' receipts and any
message whose task was lost, in batches over one SMTP connection each.

Thin: claim the row, deliver through `integrations/`, mark it sent, in one transaction.
The row lock (SKIP LOCKED) keeps a redelivered copy of the task from sending in parallel;
a message already sent is skipped. A temporary key never enters the database: it comes
in the task's arguments (hidden from logs and Flower by `argsrepr`) and is put into the
text just before delivery."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from celery import shared_task

from db import audit, outbox
from db.engine import session_scope
from integrations.email import EmailDeliveryError, EmailRejected, SmtpMailer
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


# --- beat's dispatcher: receipts (and lost messages) in batches ---------------------

BATCH_SIZE = 100
# A composed message was written by the web, which enqueued its own send task right
# after the commit: leave it to that task for this long, and catch it up only when the
# task was lost. A bare receipt has no task of its own, so it is due at once.
DISPATCH_AFTER_S = 2.0
# Stop starting batches after this share of the soft time limit: a batch already
# started ends within one SMTP timeout more, still well before the limit.
DISPATCH_BUDGET_SHARE = 0.5


@dataclass(frozen=True, slots=True)
class BatchReport:
    claimed: int
    sent: int
    channel_down: bool


@shared_task(name="workers.notification_tasks.dispatch_outbox", acks_late=True)
def dispatch_outbox() -> int:
    """Beat: send every due message (receipts the payments wrote, messages whose own
    task was lost) in batches, each over ONE SMTP connection and ONE transaction,
    until nothing is due or the time budget is spent. Returns how many were sent.

    At least once, never twice in parallel: a batch's rows stay locked (SKIP LOCKED)
    from claim to COMMIT, so no other dispatcher or task sends them meanwhile; a crash
    after the relay accepted a message and before the COMMIT sends that batch again
    (SMTP cannot be enlisted in our transaction). The stable Message-ID lets mail
    readers fold such a copy into the first one."""
    settings = get_settings()
    deadline = time.monotonic() + settings.celery_soft_time_limit_s * DISPATCH_BUDGET_SHARE
    sent = 0
    while time.monotonic() < deadline:
        report = _dispatch_batch(deadline)
        sent += report.sent
        if report.claimed < BATCH_SIZE or report.channel_down:
            break  # nothing more is due, or the relay is down: the backoff decides when
    return sent


def _dispatch_batch(deadline: float) -> BatchReport:
    with session_scope() as session:
        due = outbox.claim_due(session, limit=BATCH_SIZE, grace_s=DISPATCH_AFTER_S)
        ready, failures = outbox.compose(session, due)
        delivery = _deliver_all(ready, deadline)
        outbox.record_sent(session, delivery.sent)
        outbox.record_failed(session, failures + delivery.failed)
    failed = failures + delivery.failed
    if failed:
        log.warning("outbox messages not sent", extra={"failed": len(failed), "first_error": failed[0].error[:200]})
    if due:
        log.info("outbox batch sent", extra={"claimed": len(due), "sent": len(delivery.sent)})
    return BatchReport(len(due), len(delivery.sent), delivery.channel_down)


@dataclass
class _Delivery:
    sent: list[outbox.Outgoing] = field(default_factory=list)
    failed: list[outbox.Failure] = field(default_factory=list)
    channel_down: bool = False


def _deliver_all(messages: list[outbox.Outgoing], deadline: float) -> _Delivery:
    """E-mails over one SMTP connection, SMS one by one through the gateway (it dedupes
    by idempotency key). One refused message fails alone; an unreachable channel fails
    every message left on it; past the deadline the rest stay untouched for the next run."""
    delivery = _Delivery()
    emails = [m for m in messages if m.channel == "email"]
    if emails:
        _deliver_emails(emails, deadline, delivery)
    sms = [m for m in messages if m.channel == "sms"]
    if sms:
        _deliver_sms(sms, deadline, delivery)
    return delivery


def _deliver_emails(messages: list[outbox.Outgoing], deadline: float, delivery: _Delivery) -> None:
    settings = get_settings()
    mailer = SmtpMailer(settings.smtp_host, settings.smtp_port, settings.mail_from)
    done = 0
    try:
        with mailer.session() as connection:
            for message in messages:
                if time.monotonic() >= deadline:
                    return
                try:
                    connection.send(message.recipient, message.subject, message.body,
                                    message_id=_message_id(message))
                except EmailRejected as exc:
                    delivery.failed.append(_failure(message, exc, final=exc.permanent))
                else:
                    delivery.sent.append(message)
                done += 1
    except EmailDeliveryError as exc:  # could not connect, or the connection broke
        delivery.failed += [_failure(m, exc) for m in messages[done:]]
        delivery.channel_down = True


def _deliver_sms(messages: list[outbox.Outgoing], deadline: float, delivery: _Delivery) -> None:
    client = SmsGatewayClient(get_settings().sms_gateway_url)
    for index, message in enumerate(messages):
        if time.monotonic() >= deadline:
            return
        try:
            client.send(message.recipient, message.body, idempotency_key=f"outbox-{message.id}")
        except SmsRejected as exc:
            delivery.failed.append(_failure(message, exc, final=True))
        except SmsDeliveryError as exc:
            delivery.failed += [_failure(m, exc) for m in messages[index:]]
            delivery.channel_down = True
            return
        else:
            delivery.sent.append(message)


def _failure(message: outbox.Outgoing, exc: Exception, *, final: bool = False) -> outbox.Failure:
    return outbox.Failure(message.id, message.attempts, f"{type(exc).__name__}: {exc}", final=final)


def _message_id(message: outbox.Outgoing) -> str:
    # The same for every copy of one outbox message, so a resend after a crash can be
    # recognised as the same e-mail.
    return f"<outbox-{message.id}@zona-privada>"
