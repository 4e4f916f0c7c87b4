"""The daily ledger jobs are on beat's schedule and registered with the worker."""
from __future__ import annotations

from celery.schedules import crontab

from workers.celery_app import app


def test_dues_and_late_interest_run_every_hour_on_bogota_time() -> None:
    app.loader.import_default_modules()  # what a worker does at start: import the included modules
    schedule = app.conf.beat_schedule
    by_task = {entry["task"]: entry for entry in schedule.values()}
    for name in ("workers.ledger_tasks.generate_monthly_dues", "workers.ledger_tasks.accrue_late_interest"):
        entry = by_task[name]
        assert isinstance(entry["schedule"], crontab)
        assert name in app.tasks
    assert app.conf.timezone == "America/Bogota"
