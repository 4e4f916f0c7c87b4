"""Nudging the workers after a commit: the payment's next step, the one-time code's
message. Failures are logged, never raised: the intent's deadline brings the reconciler,
and a member without a code asks for another.
(Any request thread reaches our broker: `workers.celery_app` makes our app Celery's
default, see test_web_payments_queue.)
"""
from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def enqueue_intent(intent_id: int, step: str | None = None) -> None:
    """`step` when the caller knows it (a new intent); otherwise it is read from the row."""
    from workers.payment_tasks import enqueue_intent as nudge

    try:
        nudge(intent_id, step)
    except Exception:  # broker down: the reconciler re-drives the intent at its deadline
        log.exception("could not enqueue payment intent", extra={"intent_id": intent_id})


def send_message(message_id: int) -> None:
    from workers.notification_tasks import enqueue_send

    try:
        enqueue_send(message_id)
    except Exception:  # broker down: the row stays pending and the log says why
        log.exception("could not enqueue outbox message %s", message_id)
