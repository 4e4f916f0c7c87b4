"""The dispatcher's limits, read from the real objects: beat runs it often enough for a
receipt to arrive within seconds, a run ends well inside the task's soft time limit,
and a failing message waits longer and longer (bounded)."""
from __future__ import annotations

from db import outbox
from integrations.email import EmailRejected, SmtpMailer
from workers.notification_tasks import DISPATCH_BUDGET_SHARE
from workers.schedule import beat_schedule
from zona_privada.settings import load_settings

ENV = {"DATABASE_URL": "postgresql://x@h/db", "REDIS_URL": "redis://h:6379/0", "ZONA_ENV": "production",
       "ZONA_SECRET_KEY": "k", "ZONA_DECOY_SECRET": "d", "ZONA_FLOWER_PASSWORD": "p"}


def test_beat_dispatches_receipts_every_few_seconds() -> None:
    entry = beat_schedule(load_settings(ENV))["dispatch-outbox"]
    assert entry["task"] == "workers.notification_tasks.dispatch_outbox"
    assert entry["schedule"] <= 5.0 and entry["options"]["expires"] >= entry["schedule"]


def test_a_run_ends_well_inside_the_soft_time_limit() -> None:
    settings = load_settings(ENV)
    budget_s = settings.celery_soft_time_limit_s * DISPATCH_BUDGET_SHARE
    # The last batch may start at the budget's end and wait one SMTP timeout more.
    assert budget_s + SmtpMailer("h", 25, "f").timeout_s < settings.celery_soft_time_limit_s


def test_backoff_grows_and_is_bounded() -> None:
    waits = [outbox.retry_wait_s(n) for n in range(10)]
    assert waits[0] == outbox.RETRY_BASE_S and waits == sorted(waits) and max(waits) == outbox.RETRY_MAX_S


def test_only_a_5xx_refusal_is_permanent() -> None:
    assert EmailRejected("mailbox unknown", code=550).permanent
    assert not EmailRejected("try later", code=451).permanent
    assert EmailRejected("unusable address", code=None).permanent
