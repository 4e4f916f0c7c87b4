"""Notification tasks: send outbox messages by e-mail (SMTP) or SMS (HTTP gateway).

`send_outbox_message` sends one message the web just wrote (latency matters: a member
waits for the key). `dispatch_outbox`, on beat, sends the payments' receipts and any
message whose task was lost, in batches over one SMTP connection each.

Thin: claim the row, deliver through `integrations/`, mark it sent, in one transaction.
The row lock (SKIP LOCKED) keeps a redelivered copy of the task from sending in parallel;
a message already sent is skipped.

Secrets are drawn here, never in the web and never carried by the broker: `issue_temp_key`
looks the document up, draws the temporary key, stores its hash, writes the message and
sends it (a stranger's document costs the same hash and nothing is sent); a payment's
one-time code comes as a reference to its Redis record, and the task draws the code,
stores its hash there and puts the code into the text just before delivery. The web
request of "olvidé mi clave" is thus the same for a member and a stranger: one lookup,
one audit row, one task."""
from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

import redis
from celery import shared_task

from db import audit, credentials, notices, outbox
from db.engine import session_scope
from domain.hashing import hash_secret
from integrations.email import EmailDeliveryError, EmailRejected, SmtpMailer
from integrations.one_time_codes import CodeStore, new_code
from integrations.sms import SmsDeliveryError, SmsGatewayClient, SmsRejected
from zona_privada.settings import get_settings

log = logging.getLogger(__name__)

MAX_RETRIES = 5
RETRY_BACKOFF_S = (2, 5, 15, 30, 60)
REDACTED = "'***'"


class MissingSecret(Exception):
    """The message needs a secret the task was not given: it can never be sent."""


class SupersededCode(Exception):
    """A newer code was asked for that payment (or it was used): this one is not sent."""


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
def send_outbox_message(self, message_id: int, code_ref: str | None = None,  # noqa: ANN001
                        audit_member_id: int | None = None) -> str:
    secret = _code_drawer(code_ref) if code_ref is not None else None
    try:
        return _send(message_id, secret, audit_member_id, final=self.request.retries >= MAX_RETRIES)
    except _RetryLater as exc:
        raise self.retry(exc=exc.cause, countdown=_backoff(self.request.retries)) from exc


class _RetryLater(Exception):
    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.cause = cause


def _backoff(retries: int) -> int:
    return RETRY_BACKOFF_S[min(retries, len(RETRY_BACKOFF_S) - 1)]


def _code_drawer(code_ref: str) -> Callable[[], str]:
    """A one-time code drawn, and its hash stored in the code's record, only once the
    message is claimed: a redelivered task of a message already sent draws nothing (it
    would void the code the member has). A new code on every retry: a retry means the last
    one never reached the member."""
    def draw() -> str:
        code = new_code()
        if not _code_store().set_hash(code_ref, hash_secret(code)):
            raise SupersededCode(code_ref.rpartition("|")[2])
        return code

    return draw


def _send(message_id: int, secret: str | Callable[[], str] | None, audit_member_id: int | None, *,
          final: bool) -> str:
    """Deliver one outbox message; a delivery error that may pass raises _RetryLater
    unless this is the `final` try (then the row is marked failed for good). `secret` may
    be a function, called once the row is claimed."""
    try:
        with session_scope() as session:
            message = outbox.claim_pending(session, message_id)
            if message is None:
                return "skipped"
            if callable(secret):
                secret = secret()
            _deliver(message, _fill(message.body, secret))
            outbox.mark_sent(session, message_id)
            if audit_member_id is not None:
                audit.record(session, "temp_key_sent", None, member_id=audit_member_id, channel=message.channel,
                             outbox_id=message_id)
    except (SmsRejected, MissingSecret, SupersededCode) as exc:
        _record_failure(message_id, exc, final=True)
        return "failed"
    except (EmailDeliveryError, SmsDeliveryError) as exc:
        _record_failure(message_id, exc, final=final)
        if final:
            return "failed"
        raise _RetryLater(exc) from exc
    log.info("outbox message sent", extra={"outbox_id": message_id})
    return "sent"


@functools.lru_cache(maxsize=4)
def _redis(url: str) -> redis.Redis:
    # One client (and pool) per process and URL; made lazily, so after prefork's fork.
    return redis.Redis.from_url(url, socket_timeout=3, socket_connect_timeout=3)


def _code_store() -> CodeStore:
    return CodeStore(_redis(get_settings().sessions_redis_url))


@shared_task(name="workers.notification_tasks.issue_temp_key", bind=True, acks_late=True, max_retries=MAX_RETRIES)
def issue_temp_key(self, document_type: str, document_number: str, channel: str) -> str:  # noqa: ANN001
    """"Olvidé mi clave": a new temporary key for the member with that document, drawn,
    hashed, stored and sent here; for a document that is no member's, the same hash of a
    key nobody gets, and nothing is written or sent."""
    settings = get_settings()
    now = datetime.now(timezone.utc)
    with session_scope() as session:
        subject = credentials.find_subject(session, document_type, document_number)
        if subject.member_id is None:
            hash_secret(credentials.generate_temp_key())  # the member's path costs this hash too
            return "stranger"
        issued = credentials.issue_temp_key(session, subject.member_id, channel, now=now,
                                            ttl_s=settings.temp_key_ttl_s)
        name, _email, _number = credentials.member_contact(session, subject.member_id)
        message_id = notices.temp_key(session, member_id=subject.member_id, name=name, channel=channel,
                                      recipient=issued.recipient, expires_at=issued.expires_at,
                                      ttl_s=settings.temp_key_ttl_s)
    # No retry of this delivery alone: the key lives only in this call, so its message
    # fails for good and a retry of the task draws a new key and writes a new message.
    try:
        return _send(message_id, issued.key, subject.member_id, final=self.request.retries >= MAX_RETRIES)
    except _RetryLater as exc:
        _record_failure(message_id, exc.cause, final=True)
        raise self.retry(exc=exc.cause, countdown=_backoff(self.request.retries)) from exc


@shared_task(name="workers.notification_tasks.send_device_code", bind=True, acks_late=True, max_retries=MAX_RETRIES)
def send_device_code(self, document_type: str, document_number: str, channel: str,  # noqa: ANN001
                     code_ref: str) -> str:
    """The code a new device asks for before showing a member's image and phrase. For
    any document a code is drawn and its hash stored, so a stranger's code record behaves
    as a member's (wrong, then void); only a member's is written and sent."""
    settings = get_settings()
    with session_scope() as session:
        subject = credentials.find_subject(session, document_type, document_number)
        if subject.member_id is None:
            # The stranger's record gets the hash of a code nobody receives: a try on it
            # reads as a wrong try on a member's, then void, never "not sent yet".
            _code_store().set_hash(code_ref, hash_secret(new_code()))
            return "stranger"
        name, email, _number = credentials.member_contact(session, subject.member_id)
        recipient = subject.mobile if channel == "sms" else email
        # Once per code request (a redelivered or retried task finds the same row).
        message_id = notices.device_code(session, member_id=subject.member_id, name=name, channel=channel,
                                         recipient=recipient or "", reference=code_ref, ttl_s=settings.otp_ttl_s)
    try:
        return _send(message_id, _code_drawer(code_ref), None, final=self.request.retries >= MAX_RETRIES)
    except _RetryLater as exc:
        raise self.retry(exc=exc.cause, countdown=_backoff(self.request.retries)) from exc


def enqueue_device_code(document_type: str, document_number: str, channel: str, code_ref: str) -> None:
    send_device_code.apply_async(args=[document_type, document_number, channel, code_ref])


def enqueue_temp_key(document_type: str, document_number: str, channel: str) -> None:
    """Call after the request's audit row has committed; nothing secret travels."""
    issue_temp_key.apply_async(args=[document_type, document_number, channel])


def _record_failure(message_id: int, exc: Exception, *, final: bool) -> None:
    log.warning("outbox message not sent", extra={"outbox_id": message_id, "error": str(exc)[:200], "final": final})
    with session_scope() as session:
        outbox.mark_attempt_failed(session, message_id, f"{type(exc).__name__}: {exc}", final=final)


def enqueue_send(message_id: int, *, code_ref: str | None = None, audit_member_id: int | None = None) -> None:
    """Call only after the transaction that wrote the message has committed. `code_ref`
    names a one-time code's record, never the code."""
    send_outbox_message.apply_async(args=[message_id], kwargs={"code_ref": code_ref, "audit_member_id": audit_member_id})


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
