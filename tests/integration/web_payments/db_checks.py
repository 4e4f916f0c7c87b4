"""What the tests read back from the database: counts of everything a payment writes,
and the intents (the ledger's balance: tests.support.payments)."""
from __future__ import annotations

import redis
from sqlalchemy import text

# Everything a payment (or a refused attempt at one) could write.
WRITE_TABLES = ("payment_intents", "payment_intent_lines", "funding_attempts", "allocations", "holds",
                "journal_entries", "journal_lines", "receipt_counters")


def counts() -> dict[str, int]:
    from db.engine import session_scope

    with session_scope() as db:
        return {t: db.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in WRITE_TABLES}


def intents() -> list[tuple[int, str, str]]:
    from db.engine import session_scope

    with session_scope() as db:
        return [tuple(r) for r in db.execute(text(
            "SELECT id, state, idempotency_key FROM payment_intents ORDER BY id")).all()]


def flush_redis() -> None:
    from zona_privada.settings import get_settings

    settings = get_settings()
    for url in (settings.sessions_redis_url, settings.throttle_redis_url, settings.broker_redis_url):
        client = redis.Redis.from_url(url)
        client.flushdb()
        client.close()
