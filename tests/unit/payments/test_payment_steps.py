"""The step table (issue 9 item 1): exhaustive over the enums, and everything derived
from it agrees with it (the transitions, step_for, the state groups, the partial index)."""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from db.models import PaymentIntent
from db.payments.requirements import ADVISORY_IN_PROGRESS, LOCKED_IN_PROGRESS, NOT_COUNTED_TODAY
from domain.payment_states import (
    ATTEMPT_TRANSITIONS,
    INTENT_TRANSITIONS,
    LATE_APPROVAL_TRANSITIONS,
    OPERATOR_TRANSITIONS,
    AttemptKind,
    AttemptState,
    IntentState,
)
from domain.payment_steps import (
    HELD_STATES,
    OPEN_STATES,
    OPEN_STATES_PREDICATE,
    STEPS,
    Step,
    first_step,
    may_still_be_approved,
    step_for,
    step_transitions,
)
from workers import payment_tasks

ROOT = Path(__file__).resolve().parents[3]
# A reversal and a late approval (applied after the intent expired): never a step.
OPERATOR_MOVES = {(IntentState.APPLIED, IntentState.REVERSED), (IntentState.EXPIRED, IntentState.APPLIED)}


def test_the_exits_no_step_makes_are_named_once() -> None:
    assert OPERATOR_TRANSITIONS | LATE_APPROVAL_TRANSITIONS == OPERATOR_MOVES


def test_every_step_has_a_row_and_every_open_state_a_driver() -> None:
    assert set(STEPS) == set(Step)
    for state in IntentState:
        drivers = {step_for(state, external=e) for e in (False, True)} - {None}
        assert bool(drivers) is (not state.is_terminal()), state
        assert (state in OPEN_STATES) is (not state.is_terminal())


def test_the_transition_table_is_exactly_the_steps_moves_plus_the_operators() -> None:
    by_steps = step_transitions()
    for state in IntentState:
        operator = {t for s, t in OPERATOR_MOVES if s is state}
        assert INTENT_TRANSITIONS[state] == by_steps[state] | operator, state


def test_no_applying_state_and_a_savings_payment_goes_created_to_applied() -> None:
    assert "applying" not in {s.value for s in IntentState}
    assert IntentState.APPLIED in INTENT_TRANSITIONS[IntentState.CREATED]
    assert STEPS[Step.APPLY].expects is IntentState.CREATED and STEPS[Step.APPLY].success is IntentState.APPLIED


def test_attempt_moves_are_edges_of_the_attempt_machine_and_never_drop_a_possible_approval() -> None:
    for spec in STEPS.values():
        for current, target in spec.attempt_moves:
            assert target in ATTEMPT_TRANSITIONS[current], (spec.step, current, target)
            # Nothing local fails an attempt PSE may still approve (DESIGN §5); an `unknown`
            # one leaves only on PSE's own answer (posted when approved, declined when PSE
            # or its conciliation file says it was not): never voided or failed here.
            if any(may_still_be_approved(kind, current) for kind in AttemptKind):
                assert target is not AttemptState.FAILED, spec.step
            if current is AttemptState.UNKNOWN:
                assert target in (AttemptState.POSTED, AttemptState.DECLINED), spec.step


def test_first_steps_and_the_task_for_every_driven_step() -> None:
    assert first_step(external=False) is Step.APPLY and first_step(external=True) is Step.HOLD
    driven = {spec.step.value for spec in STEPS.values() if spec.driven}
    assert driven <= set(payment_tasks.STEP_TASKS)


def test_state_groups_are_derived() -> None:
    assert set(ADVISORY_IN_PROGRESS) == OPEN_STATES == {IntentState.CREATED, IntentState.FUNDING, IntentState.FUNDED}
    assert set(LOCKED_IN_PROGRESS) == HELD_STATES == {IntentState.FUNDING, IntentState.FUNDED}
    assert set(NOT_COUNTED_TODAY) == {s for s in IntentState if s.is_terminal()} - {IntentState.APPLIED}


def _states_in(predicate: str) -> set[str]:
    return set(re.findall(r"'([a-z_]+)'", predicate))


def test_partial_index_predicate_is_the_step_tables() -> None:
    (index,) = [i for i in PaymentIntent.__table__.indexes if i.name == "ix_payment_intents_pending_deadline"]
    model_predicate = str(index.dialect_options["postgresql"]["where"])
    assert model_predicate == OPEN_STATES_PREDICATE
    spec = importlib.util.spec_from_file_location("m0006", ROOT / "db/migrations/versions/0006_review_queue.py")
    assert spec and spec.loader
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    assert _states_in(migration.OPEN_PREDICATE) == _states_in(OPEN_STATES_PREDICATE) == {s.value for s in OPEN_STATES}


@pytest.mark.parametrize("state", list(IntentState))
def test_is_terminal_matches_the_table(state: IntentState) -> None:
    assert state.is_terminal() is (state not in {spec.expects for spec in STEPS.values()})


def test_every_state_has_a_stage_shown_by_the_web() -> None:
    from webapp.payments.presentation import STAGE_OF_STATE
    from webapp.payments.texts import STAGE_LABELS

    assert set(STAGE_OF_STATE) == set(IntentState)
    assert set(STAGE_OF_STATE.values()) <= set(STAGE_LABELS)
