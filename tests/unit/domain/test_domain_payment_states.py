import pytest

from domain.payment_states import (
    ATTEMPT_TRANSITIONS,
    HOLD_TRANSITIONS,
    INTENT_TRANSITIONS,
    AttemptKind,
    AttemptState,
    HoldState,
    IllegalTransition,
    IntentState,
    ensure_attempt_transition,
    ensure_hold_transition,
    ensure_transition,
)


def test_intent_states_are_the_designed_ones() -> None:
    assert [s.value for s in IntentState] == [
        "created",
        "funding",
        "funded",
        "applied",
        "rejected",
        "failed",
        "expired",
        "reversed",
    ]
    assert {s for s in IntentState if s.is_terminal()} == {
        IntentState.APPLIED,
        IntentState.REJECTED,
        IntentState.FAILED,
        IntentState.EXPIRED,
        IntentState.REVERSED,
    }


def test_attempt_and_hold_states() -> None:
    assert [k.value for k in AttemptKind] == ["savings", "pse"]
    assert {s for s in AttemptState if s.is_terminal()} == {
        AttemptState.POSTED,
        AttemptState.VOIDED,
        AttemptState.DECLINED,
        AttemptState.FAILED,
    }
    assert {s for s in HoldState if s.is_terminal()} == {HoldState.POSTED, HoldState.VOIDED}


@pytest.mark.parametrize(
    ("enum", "table"),
    [(IntentState, INTENT_TRANSITIONS), (AttemptState, ATTEMPT_TRANSITIONS), (HoldState, HOLD_TRANSITIONS)],
)
def test_every_state_has_a_row_and_is_terminal_answers_for_each(enum, table) -> None:  # type: ignore[no-untyped-def]
    assert set(table) == set(enum)
    for state in enum:
        assert isinstance(state.is_terminal(), bool)
        targets = table[state]
        assert targets <= set(enum)
        assert state not in targets  # no self-loops: a re-run is a no-op, not a transition


# The documented exceptions: APPLIED is terminal for the payment flow, yet an operator
# may later reverse it with compensating entries (DESIGN §3 "Reversals are new entries");
# an EXPIRED intent whose PSE approval came late is applied when the obligations still
# owe it (DESIGN §5: a late approval is applied or refunded, never dropped).
TERMINAL_EXITS = {(IntentState.APPLIED, IntentState.REVERSED), (IntentState.EXPIRED, IntentState.APPLIED)}


@pytest.mark.parametrize(
    "table", [INTENT_TRANSITIONS, ATTEMPT_TRANSITIONS, HOLD_TRANSITIONS], ids=["intent", "attempt", "hold"]
)
def test_terminal_states_have_no_way_out_but_the_documented_exits(table) -> None:  # type: ignore[no-untyped-def]
    for state, targets in table.items():
        if state.is_terminal():
            assert {(state, t) for t in targets} <= TERMINAL_EXITS
        else:
            assert targets, f"{state} is not terminal but cannot move"


def test_every_non_terminal_intent_can_end_without_being_applied() -> None:
    for state in IntentState:
        if not state.is_terminal():
            assert INTENT_TRANSITIONS[state] & {IntentState.FAILED, IntentState.REJECTED, IntentState.EXPIRED}


def test_happy_paths() -> None:
    for current, target in [
        (IntentState.CREATED, IntentState.FUNDING),
        (IntentState.FUNDING, IntentState.FUNDED),
        (IntentState.FUNDED, IntentState.APPLIED),
        (IntentState.CREATED, IntentState.APPLIED),  # savings only: one transaction
        (IntentState.APPLIED, IntentState.REVERSED),
    ]:
        ensure_transition(current, target)
    ensure_attempt_transition(AttemptState.PENDING, AttemptState.UNKNOWN)
    ensure_attempt_transition(AttemptState.UNKNOWN, AttemptState.POSTED)
    ensure_attempt_transition(AttemptState.HELD, AttemptState.VOIDED)
    ensure_hold_transition(HoldState.PENDING, HoldState.POSTED)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (IntentState.APPLIED, IntentState.FUNDED),
        (IntentState.REJECTED, IntentState.FUNDING),
        (IntentState.FUNDED, IntentState.REJECTED),  # money is in: it cannot be rejected anymore
        (IntentState.REVERSED, IntentState.APPLIED),
        (IntentState.CREATED, IntentState.FUNDED),  # funded only once the holds are placed
    ],
)
def test_illegal_intent_transitions_raise(current: IntentState, target: IntentState) -> None:
    with pytest.raises(IllegalTransition) as caught:
        ensure_transition(current, target)
    assert caught.value.current is current and caught.value.target is target


def test_illegal_attempt_and_hold_transitions_raise() -> None:
    with pytest.raises(IllegalTransition):
        ensure_attempt_transition(AttemptState.POSTED, AttemptState.VOIDED)
    with pytest.raises(IllegalTransition):
        ensure_attempt_transition(AttemptState.PENDING, AttemptState.VOIDED)
    with pytest.raises(IllegalTransition):
        ensure_hold_transition(HoldState.VOIDED, HoldState.POSTED)


def test_tables_are_read_only() -> None:
    with pytest.raises(TypeError):
        INTENT_TRANSITIONS[IntentState.REJECTED] = frozenset({IntentState.CREATED})  # type: ignore[index]
