"""The nudge after "Finalizar" reaches our broker from any request thread (gunicorn's
threads are not the one that imported the Celery app: without care the message went to
Celery's fallback app and the payment waited for the reconciler)."""
from __future__ import annotations

import json
import threading

import redis

from tests.integration.web_payments.db_checks import flush_redis


def test_enqueue_from_another_thread_reaches_the_broker(seeded) -> None:  # noqa: ANN001
    from db.engine import session_scope
    from db.payments.intents import create_intent
    from webapp.payments import queue
    from zona_privada.settings import get_settings

    _creds, ids = seeded
    flush_redis()
    with session_scope() as db:
        intent_id, created = create_intent(db, member_id=ids.member_id, idempotency_key="hilo-de-gunicorn-1",
                                           kind="payment", lines=[{"obligation_id": ids.aportes, "amount": "3800"}],
                                           funding=[{"savings_account_id": ids.rentadiario, "amount": "3800"}])
    assert created
    threads = [threading.Thread(target=queue.enqueue_intent, args=(intent_id,)) for _ in range(3)]
    for thread in threads:
        thread.start()
        thread.join()
    broker = redis.Redis.from_url(get_settings().broker_redis_url)
    messages = [json.loads(raw) for raw in broker.lrange("celery", 0, -1)]
    broker.close()
    # Savings payments are applied in batches: the three nudges are one drain message.
    assert [m["headers"]["task"] for m in messages] == ["workers.payment_tasks.apply_ready"]
    flush_redis()
