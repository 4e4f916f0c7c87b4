"""Nudging the workers after a commit: the payment's next step, the one-time code's
message. Failures are logged, never raised: the intent's deadline brings the reconciler,
and a member without a code asks for another.
(Any request thread reaches our broker: `workers.celery_app` makes our app Celery's
default, see test_web_payments_queue.)
"""
from __future__ import annotations

import logging

from flask import current_app

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


def ask_pse_query(tx_id: int, *, debounce_s: int) -> bool:
    """The member came back from the bank: ask PSE now (the query's answer is the truth,
    the return itself changes nothing). Once per transaction per `debounce_s`, counted in
    Redis for every web process, so reloading the page does not flood PSE with queries;
    the stored schedule asks again anyway. True when a query was enqueued."""
    from workers.pse_tasks import enqueue_query_now

    throttle = current_app.extensions["zona_throttle"]
    try:
        if not throttle.hit(f"pse-query:{tx_id}", 1, debounce_s):
            return False
        enqueue_query_now(tx_id)
    except Exception:  # Redis or the broker down: the poller queries on its schedule
        log.exception("could not ask for a PSE query", extra={"pse_transaction_id": tx_id})
        return False
    return True
