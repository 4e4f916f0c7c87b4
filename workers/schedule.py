"""celery beat's schedule. Exactly one beat runs (DESIGN §4 rule 7)."""
from __future__ import annotations

from zona_privada.settings import Settings


def beat_schedule(settings: Settings) -> dict[str, dict[str, object]]:
    return {
        "heartbeat": {
            "task": "workers.tasks.record_heartbeat",
            "schedule": 60.0,
        },
    }
