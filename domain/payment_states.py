"""The closed state machines of a payment (DESIGN §4).

An intent is what the member asked for; each try at a funding source (a savings hold, a
PSE transaction) is an attempt with its own states, as Hyperswitch separates them. Every
`is_terminal` names each member explicitly, with no wildcard, so adding a state fails the
type check and the tests until someone decides what it means.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType


class IllegalTransition(Exception):
    def __init__(self, current: StrEnum, target: StrEnum) -> None:
        super().__init__(f"illegal transition {type(current).__name__}: {current} -> {target}")
        self.current = current
        self.target = target


class IntentState(StrEnum):
    CREATED = "created"
    FUNDING = "funding"
    FUNDED = "funded"
    # No APPLYING state (issue 9): applying is the inside of ONE transaction (apply_intent,
    # settle_intent), so nobody outside it could ever see the row in it, and storing it
    # would cost an extra UPDATE on the hot path for a state no reader can observe. The
    # database enum keeps the old label (PostgreSQL cannot drop an enum value in place);
    # migration 0006 forbids it with a CHECK.
    APPLIED = "applied"
    REJECTED = "rejected"
    FAILED = "failed"
    EXPIRED = "expired"
    REVERSED = "reversed"

    def is_terminal(self) -> bool:
        match self:
            case IntentState.CREATED | IntentState.FUNDING | IntentState.FUNDED:
                return False
            # APPLIED is an end for the payment processor: the member's payment is done.
            # Its one way out, REVERSED, is a later operator decision booked as new
            # compensating entries, never a continuation of the payment flow.
            case IntentState.APPLIED | IntentState.REJECTED | IntentState.FAILED:
                return True
            case IntentState.EXPIRED | IntentState.REVERSED:
                return True


class AttemptKind(StrEnum):
    SAVINGS = "savings"
    PSE = "pse"


class AttemptState(StrEnum):
    PENDING = "pending"
    HELD = "held"
    POSTED = "posted"
    VOIDED = "voided"
    DECLINED = "declined"
    UNKNOWN = "unknown"  # PSE did not answer clearly: poll again, never assume
    FAILED = "failed"

    def is_terminal(self) -> bool:
        match self:
            case AttemptState.PENDING | AttemptState.HELD | AttemptState.UNKNOWN:
                return False
            case AttemptState.POSTED | AttemptState.VOIDED | AttemptState.DECLINED | AttemptState.FAILED:
                return True


class HoldState(StrEnum):
    """A two-phase transfer on a savings account, as TigerBeetle models them."""

    PENDING = "pending"
    POSTED = "posted"
    VOIDED = "voided"

    def is_terminal(self) -> bool:
        match self:
            case HoldState.PENDING:
                return False
            case HoldState.POSTED | HoldState.VOIDED:
                return True


_NONE: frozenset[IntentState] = frozenset()

INTENT_TRANSITIONS: Mapping[IntentState, frozenset[IntentState]] = MappingProxyType(
    {
        # Each move is one a step of domain.payment_steps.STEPS makes (a test holds the
        # two equal): created → applied is a savings-only payment in one transaction.
        IntentState.CREATED: frozenset({IntentState.FUNDING, IntentState.APPLIED, IntentState.REJECTED}),
        IntentState.FUNDING: frozenset({IntentState.FUNDED, IntentState.REJECTED, IntentState.EXPIRED}),
        IntentState.FUNDED: frozenset({IntentState.APPLIED, IntentState.FAILED}),
        # The only exit from a terminal state, an operator's decision (no step makes it);
        # see IntentState.is_terminal.
        IntentState.APPLIED: frozenset({IntentState.REVERSED}),
        IntentState.REJECTED: _NONE,
        IntentState.FAILED: _NONE,
        # A late approval (DESIGN §5): PSE approved after the funding window closed and
        # the obligations still owe it, so it is applied; made by
        # db/payments/late_approvals.py, never by a step (see LATE_APPROVAL_TRANSITIONS).
        IntentState.EXPIRED: frozenset({IntentState.APPLIED}),
        IntentState.REVERSED: _NONE,
    }
)

# Exits from an end state that no step makes: the operator's reversal and the late
# approval. Tests hold INTENT_TRANSITIONS equal to the steps' moves plus these.
OPERATOR_TRANSITIONS: frozenset[tuple[IntentState, IntentState]] = frozenset({(IntentState.APPLIED, IntentState.REVERSED)})
LATE_APPROVAL_TRANSITIONS: frozenset[tuple[IntentState, IntentState]] = frozenset({(IntentState.EXPIRED, IntentState.APPLIED)})

ATTEMPT_TRANSITIONS: Mapping[AttemptState, frozenset[AttemptState]] = MappingProxyType(
    {
        AttemptState.PENDING: frozenset(
            {
                AttemptState.HELD,
                AttemptState.POSTED,
                AttemptState.DECLINED,
                AttemptState.UNKNOWN,
                AttemptState.FAILED,
            }
        ),
        AttemptState.HELD: frozenset({AttemptState.POSTED, AttemptState.VOIDED}),
        AttemptState.UNKNOWN: frozenset({AttemptState.POSTED, AttemptState.VOIDED, AttemptState.DECLINED}),
        AttemptState.POSTED: frozenset(),
        AttemptState.VOIDED: frozenset(),
        AttemptState.DECLINED: frozenset(),
        AttemptState.FAILED: frozenset(),
    }
)

HOLD_TRANSITIONS: Mapping[HoldState, frozenset[HoldState]] = MappingProxyType(
    {
        HoldState.PENDING: frozenset({HoldState.POSTED, HoldState.VOIDED}),
        HoldState.POSTED: frozenset(),
        HoldState.VOIDED: frozenset(),
    }
)


def ensure_transition(current: IntentState, target: IntentState) -> None:
    if target not in INTENT_TRANSITIONS[current]:
        raise IllegalTransition(current, target)


def ensure_attempt_transition(current: AttemptState, target: AttemptState) -> None:
    if target not in ATTEMPT_TRANSITIONS[current]:
        raise IllegalTransition(current, target)


def ensure_hold_transition(current: HoldState, target: HoldState) -> None:
    if target not in HOLD_TRANSITIONS[current]:
        raise IllegalTransition(current, target)
