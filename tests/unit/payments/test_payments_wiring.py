"""Task wiring: late acks, which errors are retried, the routing table, the beat entry."""
from __future__ import annotations

from decimal import Decimal

import psycopg
import pytest
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from db.payments.processing import step_for
from domain.payment_states import IntentState
from workers import payment_tasks
from workers.celery_app import app
from workers.schedule import beat_schedule
from zona_privada.settings import load_settings


def test_payment_tasks_are_late_acked_and_registered() -> None:
    for name in ("apply_intent", "hold_intent", "settle_intent", "expire_intent", "reconcile_payments"):
        task = app.tasks[f"workers.payment_tasks.{name}"]
        assert task.acks_late is True


def test_only_transient_database_errors_are_retried() -> None:
    assert payment_tasks.is_transient(OperationalError("SELECT 1", {}, psycopg.OperationalError("gone")))
    serialization = psycopg.errors.SerializationFailure("could not serialize")
    assert payment_tasks.is_transient(OperationalError("UPDATE", {}, serialization))
    assert not payment_tasks.is_transient(IntegrityError("INSERT", {}, psycopg.errors.UniqueViolation("dup")))
    assert not payment_tasks.is_transient(ProgrammingError("SELECT", {}, psycopg.errors.UndefinedTable("x")))
    assert not payment_tasks.is_transient(ValueError("bug"))
    assert not payment_tasks.is_transient(AssertionError())


def test_backoff_is_bounded() -> None:
    for retries in range(12):
        assert 0 <= payment_tasks.backoff_s(retries) <= payment_tasks.RETRY_BACKOFF_MAX_S


@pytest.mark.parametrize("state,external,step", [
    (IntentState.CREATED, False, "apply"), (IntentState.CREATED, True, "hold"),
    (IntentState.FUNDING, True, "expire"), (IntentState.FUNDED, True, "settle"),
] + [(s, e, None) for s in IntentState if s.is_terminal() for e in (False, True)])
def test_routing_table(state: IntentState, external: bool, step: str | None) -> None:
    assert step_for(state, external=external) == step


def test_every_routed_step_has_a_task() -> None:
    steps = {step_for(s, external=e) for s in IntentState for e in (False, True)} - {None}
    assert steps <= set(payment_tasks.STEP_TASKS)


def test_reconciler_runs_at_the_configured_period() -> None:
    env = {"DATABASE_URL": "postgresql://x@h/db", "REDIS_URL": "redis://h:6379/0", "ZONA_ENV": "production",
           "ZONA_SECRET_KEY": "k", "ZONA_DECOY_SECRET": "d", "ZONA_FLOWER_PASSWORD": "p",
           "ZONA_RECONCILER_PERIOD_S": "0.5"}
    entry = beat_schedule(load_settings(env))["reconcile-payments"]
    assert entry["task"] == "workers.payment_tasks.reconcile_payments" and entry["schedule"] == 0.5
    assert entry["task"] in app.tasks
    assert Decimal(str(entry["options"]["expires"])) >= 1
