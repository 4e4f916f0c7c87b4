"""celery beat's schedule. Exactly one beat runs (DESIGN §4 rule 7)."""
from __future__ import annotations

from celery.schedules import crontab

from zona_privada.settings import Settings, load_pse_settings


def beat_schedule(settings: Settings) -> dict[str, dict[str, object]]:
    pse = load_pse_settings()
    return {
        "heartbeat": {
            "task": "workers.tasks.record_heartbeat",
            "schedule": 60.0,
        },
        # Sends the payments' receipts (nobody else does) and any notification whose send
        # task was lost, in batches. Every 2 s: a receipt reaches the member within a few
        # seconds, and at 50 payments/s one run is one batch of ~100 over one connection;
        # an idle run is one indexed scan. A run still queued after 10 s is dropped (the
        # next one does the same work).
        "dispatch-outbox": {
            "task": "workers.notification_tasks.dispatch_outbox",
            "schedule": 2.0,
            "options": {"expires": 10.0},
        },
        # Issue 4: re-drive payment intents past their step deadline; alert on any older
        # than the payment promise. A run left in a backlogged queue is dropped (the next
        # one does the same work), so runs never pile up behind a stopped worker.
        "reconcile-payments": {
            "task": "workers.payment_tasks.reconcile_payments",
            "schedule": settings.reconciler_period_s,
            "options": {"expires": max(2 * settings.reconciler_period_s, 1.0)},
        },
        # Issue 10: PSE's bank list, fetched once a day (pse-reference §2.5). Beat asks
        # every hour; the task fetches only when the stored list is a day old, so a failed
        # fetch is retried within the hour while the old list is still offered.
        "refresh-pse-banks": {
            "task": "workers.pse_tasks.refresh_pse_banks",
            "schedule": pse.banks_check_s,
            "options": {"expires": max(pse.banks_check_s / 2, 1.0)},
        },
        # Issue 10: PSE transactions whose next query is due (the schedule is stored on each
        # row), tickets whose send was lost, sends never answered, finalizes owed.
        "poll-pse": {
            "task": "workers.pse_tasks.poll_pse",
            "schedule": settings.pse_poll_period_s,
            "options": {"expires": max(2 * settings.pse_poll_period_s, 1.0)},
        },
        # Issue 10 §5: the conciliation file, daily at 06:10 Bogotá (yesterday's, final,
        # and today's so far); tests and the fault run set a period in seconds instead.
        "conciliate-pse": {
            "task": "workers.pse_tasks.conciliate_pse",
            "schedule": (settings.pse_conciliation_period_s if settings.pse_conciliation_period_s > 0
                         else crontab(hour=6, minute=10)),
            "options": {"expires": 3000.0},
        },
        # Issue 9 item 7, every hour (crontab times are Bogotá's, the app's timezone): the
        # first run after midnight bills and charges the new day; the others find it done
        # (both jobs are idempotent per day) and cover a worker that was down at 00:05.
        "generate-monthly-dues": {
            "task": "workers.ledger_tasks.generate_monthly_dues",
            "schedule": crontab(minute=5),
            "options": {"expires": 3000.0},
        },
        "accrue-late-interest": {
            "task": "workers.ledger_tasks.accrue_late_interest",
            "schedule": crontab(minute=15),
            "options": {"expires": 3000.0},
        },
    }
