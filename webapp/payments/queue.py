"""Nudging the workers after a commit: the payment's next step, the one-time code's
message. Failures are logged, never raised: the intent's deadline brings the reconciler,
and a member without a code asks for another.

Celery's "current app" is thread-local. Gunicorn's request threads are not the thread
that imported `workers.celery_app`, so a task called through `shared_task` there would
bind to Celery's fallback app (no broker of ours) and the message would vanish. Making
our app current for the calling thread first keeps every request thread on our broker.
"""
from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def _use_zona_celery() -> None:
    from workers.celery_app import app

    app.set_current()


def enqueue_intent(intent_id: int) -> None:
    from workers.payment_tasks import enqueue_intent as nudge

    try:
        _use_zona_celery()
        nudge(intent_id)
    except Exception:  # broker down: the reconciler re-drives the intent at its deadline
        log.exception("could not enqueue payment intent", extra={"intent_id": intent_id})


def send_message(message_id: int, *, secret: str | None = None) -> None:
    from workers.notification_tasks import enqueue_send

    try:
        _use_zona_celery()
        enqueue_send(message_id, secret=secret)
    except Exception:  # broker down: the row stays pending and the log says why
        log.exception("could not enqueue outbox message %s", message_id)
