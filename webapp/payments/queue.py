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


# A member back from the bank: the query's answer is the truth, so the return asks PSE
# now, debounced for every web process by three keys per transaction:
#   last   the marker (the transaction's last answered query) at which a query was asked;
#          it lives `unanswered` s: a query still unanswered by then is taken as lost;
#   again  set while a returned member waits: "sent:<marker>" when the return asked itself,
#          "<marker>" when it found a query in flight, asked before the member decided at the
#          bank; lives `watch` s (the page's polls read it);
#   gap    one ask per `interval` s, whatever the reloads.
# KEYS: gap, last, again. ARGV: marker, interval, unanswered, watch. 1: enqueue a query.
_ASK_PSE = """
if redis.call('SET', KEYS[1], 1, 'NX', 'EX', tonumber(ARGV[2])) == false then return 0 end
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('SET', KEYS[3], ARGV[1], 'EX', tonumber(ARGV[4]))
  return 0
end
redis.call('SET', KEYS[2], ARGV[1], 'EX', tonumber(ARGV[3]))
redis.call('SET', KEYS[3], 'sent:' .. ARGV[1], 'EX', tonumber(ARGV[4]))
return 1
"""

# The page's poll. KEYS: last, again. ARGV: marker, unanswered.
#  - nobody waits, or the return's own query is in flight: nothing;
#  - the return's own query was answered (the marker moved): done, nothing more;
#  - the query in flight at the return was answered: ask once more (it may predate the
#    member's decision at the bank);
#  - the query asked went unanswered for `unanswered` s (a lost message, a worker that
#    died): ask again, and keep waiting.
_ASK_PSE_AGAIN = """
local waiting = redis.call('GET', KEYS[2])
if waiting == false then return 0 end
local sent = string.sub(waiting, 1, 5) == 'sent:'
local at = waiting
if sent then at = string.sub(waiting, 6) end
if at == ARGV[1] then
  if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
  redis.call('SET', KEYS[1], ARGV[1], 'EX', tonumber(ARGV[2]))
  return 1
end
redis.call('DEL', KEYS[2])
if sent then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', tonumber(ARGV[2]))
return 1
"""

# How long a query asked by a return may stay unanswered before the page asks again, and
# how long a returned member is taken to be watching the page.
UNANSWERED_S = 15
WATCH_S = 180


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


def ask_pse_query(tx_id: int, *, answered_marker: str, interval_s: int = 1) -> bool:
    """The member came back from the bank: ask PSE now (the query's answer is the truth,
    the return itself changes nothing). Reloading the page does not flood PSE: no new
    query while the last one asked is unanswered (`answered_marker`, the transaction's
    last query time, has not moved) and never more than one per `interval_s`. True when
    enqueued."""
    return _enqueue_if(tx_id, _ASK_PSE, _pse_keys(tx_id), answered_marker, interval_s, UNANSWERED_S, WATCH_S)


def ask_pse_query_again(tx_id: int, *, answered_marker: str) -> bool:
    """The return page's poll: once more when the query in flight at the return has been
    answered, and again whenever the query asked went unanswered for UNANSWERED_S."""
    _gap, last, again = _pse_keys(tx_id)
    return _enqueue_if(tx_id, _ASK_PSE_AGAIN, (last, again), answered_marker, UNANSWERED_S)
