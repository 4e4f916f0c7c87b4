"""celery beat's schedule. Exactly one beat runs (DESIGN §4 rule 7)."""
from __future__ import annotations

from zona_privada.settings import Settings


def beat_schedule(settings: Settings) -> dict[str, dict[str, object]]:
    return {
        "heartbeat": {
            "task": "workers.tasks.record_heartbeat",
            "schedule": 60.0,
        },
        # Receipts and any notification whose send task was lost.
        "dispatch-outbox": {
            "task": "workers.notification_tasks.dispatch_outbox",
            "schedule": 5.0,
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
    }
