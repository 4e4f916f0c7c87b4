"""The steps of a payment as ONE table (issue 9 item 1, DESIGN §4).

Each step is one transaction a worker runs: it expects the intent in one state and
leaves it in its success state or one of its failure states, moving funding attempts
only along the edges listed here. The processing functions check their moves against
this table, `step_for` (the web's first step and the reconciler's re-drive), the state
groups of the requirements (in progress, held), the reconciler's claim and the partial
index predicate are all derived from it, so a new state or step is decided here once.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from domain.payment_states import ATTEMPT_TRANSITIONS, AttemptKind, AttemptState, IllegalTransition, IntentState


class Step(StrEnum):
    APPLY = "apply"  # savings only: created → applied in one transaction
    HOLD = "hold"  # an outside party funds part: reserve the savings part
    FUND = "fund"  # the outside party said yes (the PSE issue calls it)
    SETTLE = "settle"  # post the holds and apply
    RELEASE = "release"  # the outside party said no: void the holds
    EXPIRE = "expire"  # nobody answered within the funding window: void the holds
    # PSE's createTransactionPayment: the intent stays in funding; a lost answer leaves
    # the PSE attempt unknown (never sent again; conciliation resolves it).
    SEND = "send"


@dataclass(frozen=True, slots=True)
class StepSpec:
    step: Step
    expects: IntentState
    success: IntentState
    failures: frozenset[IntentState]
    # Attempt moves this step may make: (from, to) edges of the attempt machine.
    attempt_moves: frozenset[tuple[AttemptState, AttemptState]]
    # Which intents it drives from `expects`: savings-only (False), external (True), both (None).
    external: bool | None
    # Driven by the web / the reconciler from `expects`; FUND and RELEASE wait on an
    # outside answer instead (a re-drive cannot produce one).
    driven: bool

    @property
    def targets(self) -> frozenset[IntentState]:
        return self.failures | {self.success}


_P, _H, _U = AttemptState.PENDING, AttemptState.HELD, AttemptState.UNKNOWN
_POSTED, _DECLINED, _VOIDED = AttemptState.POSTED, AttemptState.DECLINED, AttemptState.VOIDED

STEPS: Mapping[Step, StepSpec] = MappingProxyType({
    spec.step: spec
    for spec in (
        StepSpec(Step.APPLY, IntentState.CREATED, IntentState.APPLIED, frozenset({IntentState.REJECTED}),
                 frozenset({(_P, AttemptState.POSTED), (_P, AttemptState.DECLINED)}), external=False, driven=True),
        StepSpec(Step.HOLD, IntentState.CREATED, IntentState.FUNDING, frozenset({IntentState.REJECTED}),
                 frozenset({(_P, _H), (_P, AttemptState.DECLINED)}), external=True, driven=True),
        StepSpec(Step.SEND, IntentState.FUNDING, IntentState.FUNDING, frozenset(),
                 frozenset({(_P, _U)}), external=True, driven=False),
        # PSE said OK: the PSE attempt stays pending until SETTLE books its money with the
        # holds in one transaction.
        StepSpec(Step.FUND, IntentState.FUNDING, IntentState.FUNDED, frozenset(),
                 frozenset(), external=True, driven=False),
        # A failed settle voids the holds; an attempt that PSE may still approve (pending
        # PSE, unknown) is NOT moved to failed (DESIGN §5: a late approval is applied or
        # refunded, never dropped): the reconciler sends such an intent to review.
        # The approved PSE attempt is posted with the holds (or, when the settle fails,
        # its money is refunded to the member's savings: db/payments/late_approvals.py).
        StepSpec(Step.SETTLE, IntentState.FUNDED, IntentState.APPLIED, frozenset({IntentState.FAILED}),
                 frozenset({(_H, _POSTED), (_H, _VOIDED), (_P, _POSTED), (_U, _POSTED)}), external=True, driven=True),
        # PSE said NOT_AUTHORIZED / FAILED, refused the create, or conciliation shows the
        # create never reached it.
        StepSpec(Step.RELEASE, IntentState.FUNDING, IntentState.REJECTED, frozenset(),
                 frozenset({(_H, _VOIDED), (_P, _DECLINED), (_U, _DECLINED)}), external=True, driven=False),
        # The funding window passed: the holds are voided, but a PSE attempt still pending
        # or unknown is NOT touched (DESIGN §5): it is still queried, and an approval that
        # comes later is a late approval (applied or refunded, and reviewed).
        # A PSE create never sent (the worker never got to it) is declined: it provably
        # never reached PSE, and must not be sent after the intent ended.
        StepSpec(Step.EXPIRE, IntentState.FUNDING, IntentState.EXPIRED, frozenset(),
                 frozenset({(_H, _VOIDED), (_P, _DECLINED)}), external=True, driven=True),
    )
})


def step_for(state: IntentState, *, external: bool) -> Step | None:
    """The step that drives an intent found in `state` (None: nothing to drive)."""
    for spec in STEPS.values():
        if spec.driven and spec.expects is state and spec.external in (None, external):
            return spec.step
    return None


def first_step(*, external: bool) -> Step:
    """What a new intent (in `created`) runs first: the web enqueues it after commit."""
    step = step_for(IntentState.CREATED, external=external)
    assert step is not None, "every new intent has a first step (checked by the table's tests)"
    return step


def may_still_be_approved(kind: AttemptKind, state: AttemptState) -> bool:
    """An attempt an outside party may still approve: never failed or voided locally."""
    return state is AttemptState.UNKNOWN or (kind is AttemptKind.PSE and state is AttemptState.PENDING)


def may_still_be_approved_sql(alias: str) -> str:
    """The same rule as a SQL condition on funding_attempts `alias` (enum values, not
    hand-typed literals)."""
    return (f"({alias}.state = '{AttemptState.UNKNOWN.value}' OR ({alias}.kind = '{AttemptKind.PSE.value}' "
            f"AND {alias}.state = '{AttemptState.PENDING.value}'))")


def ensure_step_move(step: Step, current: IntentState, target: IntentState) -> None:
    spec = STEPS[step]
    if current is not spec.expects or target not in spec.targets:
        raise IllegalTransition(current, target)


def ensure_step_attempt_move(step: Step, current: AttemptState, target: AttemptState) -> None:
    if (current, target) not in STEPS[step].attempt_moves:
        raise IllegalTransition(current, target)


def _closure_from(holding: frozenset[IntentState]) -> frozenset[IntentState]:
    """States reachable from `holding` through steps that keep the intent open."""
    found = set(holding)
    changed = True
    while changed:
        changed = False
        for spec in STEPS.values():
            if spec.expects in found and not spec.success.is_terminal() and spec.success not in found:
                found.add(spec.success)
                changed = True
    return frozenset(found)


# Every state a step starts from: the unfinished intents (the reconciler's claim, the
# partial index, the alerts).
OPEN_STATES: frozenset[IntentState] = frozenset(spec.expects for spec in STEPS.values())
# States in which the intent's savings are reserved by pending holds: a step moved
# attempts to HELD and no step since finished the intent.
HELD_STATES: frozenset[IntentState] = _closure_from(frozenset(
    spec.success for spec in STEPS.values() if any(to is _H for _, to in spec.attempt_moves)))
# Payments that do not count against the day's limit: ended without moving money.
NOT_COUNTED_STATES: frozenset[IntentState] = frozenset(
    s for s in IntentState if s.is_terminal() and s is not IntentState.APPLIED)


def step_transitions() -> dict[IntentState, frozenset[IntentState]]:
    """The intent moves the steps make, by state (INTENT_TRANSITIONS minus operators')."""
    moves: dict[IntentState, set[IntentState]] = {s: set() for s in IntentState}
    for spec in STEPS.values():
        moves[spec.expects] |= spec.targets - {spec.expects}  # a step that keeps the state moves nothing
    return {s: frozenset(t) for s, t in moves.items()}


def states_sql(states: frozenset[IntentState]) -> str:
    """`'a', 'b'` in enum order, for a SQL IN list (the partial index predicate)."""
    return ", ".join(f"'{s.value}'" for s in IntentState if s in states)


OPEN_STATES_PREDICATE = f"state IN ({states_sql(OPEN_STATES)})"


def _check() -> None:
    """Exhaustive over the enums, at import: a state or step nobody placed fails loudly."""
    for state in IntentState:
        assert (state in OPEN_STATES) is (not state.is_terminal()), f"{state}: open iff not terminal"
        if not state.is_terminal():
            assert step_for(state, external=True) or step_for(state, external=False), f"{state}: no step drives it"
    for spec in STEPS.values():
        for current, target in spec.attempt_moves:
            assert target in ATTEMPT_TRANSITIONS[current], f"{spec.step}: {current} -> {target}"
            assert not may_still_be_approved(AttemptKind.PSE, current) or target is not AttemptState.FAILED


_check()

__all__ = [
    "HELD_STATES", "NOT_COUNTED_STATES", "OPEN_STATES", "OPEN_STATES_PREDICATE", "STEPS", "Step", "StepSpec",
    "ensure_step_attempt_move", "ensure_step_move", "first_step", "may_still_be_approved",
    "may_still_be_approved_sql", "step_for",
    "step_transitions",
]
