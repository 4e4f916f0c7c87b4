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


# KEYS: the one-per-interval key, the last-nudge key, the ask-again key.
# ARGV: marker, interval s, unanswered s. Returns 1 when the caller should enqueue a query.
# A return while the last query asked is unanswered remembers that marker in the
# ask-again key: that query may have been sent before the member decided at the bank,
# so once it is answered (the marker moves) the page's next poll asks once more.
_ASK_PSE = """
if redis.call('SET', KEYS[1], 1, 'NX', 'EX', tonumber(ARGV[2])) == false then return 0 end
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('SET', KEYS[3], ARGV[1], 'EX', tonumber(ARGV[3]))
  return 0
end
redis.call('SET', KEYS[2], ARGV[1], 'EX', tonumber(ARGV[3]))
redis.call('DEL', KEYS[3])
return 1
"""

# KEYS: the last-nudge key, the ask-again key. ARGV: marker, unanswered s.
_ASK_PSE_AGAIN = """
local waiting = redis.call('GET', KEYS[2])
if waiting == false or waiting == ARGV[1] then return 0 end
redis.call('DEL', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1], 'EX', tonumber(ARGV[2]))
return 1
"""


def _pse_keys(tx_id: int) -> tuple[str, str, str]:
    return f"zp:t:pse-q1:{tx_id}", f"zp:t:pse-q:{tx_id}", f"zp:t:pse-q2:{tx_id}"


def _enqueue_if(tx_id: int, script: str, keys: tuple[str, ...], *args: object) -> bool:
    from workers.pse_tasks import enqueue_query_now

    client = current_app.extensions["zona_throttle"].client
    try:
        if not client.eval(script, len(keys), *keys, *args):
            return False
        enqueue_query_now(tx_id)
    except Exception:  # Redis or the broker down: the poller queries on its schedule
        log.exception("could not ask for a PSE query", extra={"pse_transaction_id": tx_id})
        return False
    return True


def ask_pse_query(tx_id: int, *, answered_marker: str, interval_s: int = 1, unanswered_s: int = 30) -> bool:
    """The member came back from the bank: ask PSE now (the query's answer is the truth,
    the return itself changes nothing). Debounced in Redis for every web process, so
    reloading the page does not flood PSE: no new query while the last one asked is not
    yet answered (`answered_marker`, the transaction's last query time, has not moved;
    up to `unanswered_s`), and never more than one per `interval_s`. True when enqueued."""
    return _enqueue_if(tx_id, _ASK_PSE, _pse_keys(tx_id), answered_marker, interval_s, unanswered_s)


def ask_pse_query_again(tx_id: int, *, answered_marker: str, unanswered_s: int = 30) -> bool:
    """The return page's poll: when a return found a query in flight and that query has
    since been answered without a decision, ask once more (at most once per such return)."""
    _interval, last, again = _pse_keys(tx_id)
    return _enqueue_if(tx_id, _ASK_PSE_AGAIN, (last, again), answered_marker, unanswered_s)
