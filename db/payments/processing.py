"""The steps a worker runs. Each is ONE transaction that locks the intent row, checks the
state it expects and moves it; run twice, the second run changes nothing (DESIGN §4).

A savings-only intent goes from `created` to `applied` (or `rejected`) in `apply_intent`.
Intents that wait on an outside party (PSE, a later issue) reserve their savings part
with a two-phase hold instead: `place_holds` (pending), then `settle_intent` (post the
holds and apply) or `release_intent` (void them); nothing is ever applied in part.

Lock order, everywhere: the intent row, then savings accounts by id, then obligations by
id, then (last, held only to commit) the receipt counter, so concurrent payments neither
deadlock nor overdraw.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import text
from sqlalchemy.orm import Session

from domain.allocation import ALLOCATION_ORDER, PAID_PREFIX
from domain.amortization import PrepaymentMode, reschedule_after_prepayment
from domain.bogota_calendar import bogota_date
from domain.payment_request import FundingRequest, LineRequest, PaymentRequest
from domain.payment_states import (
    LATE_APPROVAL_TRANSITIONS,
    AttemptKind,
    IllegalTransition,
    AttemptState,
    HoldState,
    IntentState,
    ensure_attempt_transition,
    ensure_hold_transition,
    ensure_transition,
)
from domain.payment_steps import (
    STEPS,
    Step,
    ensure_step_attempt_move,
    ensure_step_move,
    may_still_be_approved,
    may_still_be_approved_sql,
    step_for,
)
from domain.requirements import REASON_DAY_LIMIT, REASON_INSUFFICIENT, REASON_TX_LIMIT, first_failure
from zona_privada.metrics import observe_applied
from zona_privada.settings import Settings, get_settings

from .. import chart, outbox
from ..ledger import post_entry
from ..models import IntentKind, PseResolution, PseState, ReviewKind, ReviewState
from ..posting import EntryAmounts
from .early_payment import rebill_current_period
from .gmf import request_gmf
from .late_approvals import refund_approval
from .planning import ObligationPlan, split_amount
from .requirements import LOCKED_IN_PROGRESS, evaluate_rows
from .snapshots import AttemptRow, IntentRow, ObligationRow, SavingsRow, load_accounts, load_obligations, lock_intent
from .intents import utcnow

log = logging.getLogger(__name__)
ZERO = Decimal("0.00")
RECEIPT_SERIES = "recibos"


class Outcome(StrEnum):
    APPLIED = "applied"
    REJECTED = "rejected"
    HELD = "held"
    FUNDED = "funded"
    RELEASED = "released"
    # Nothing moved: the state was not the one the step expects (a re-run), or the step
    # is waiting (holds not yet expired). A step that moved a state never says this.
    NOTHING_TO_DO = "nothing_to_do"
    MISSING = "missing"


@dataclass(frozen=True, slots=True)
class StepResult:
    intent_id: int
    outcome: Outcome
    state: IntentState | None
    reason: str | None = None
    # Steps to enqueue once this transaction has committed (DESIGN §4 rule 2).
    next_steps: tuple[str, ...] = field(default_factory=tuple)


def _lock_expecting(session: Session, intent_id: int, step: Step) -> IntentRow | StepResult:
    """DESIGN §4 rule 1: lock the intent row and check the state this step expects (from
    the step table); any other state means the step already ran (or another one did), so
    it does nothing."""
    intent = lock_intent(session, intent_id)
    if intent is None:
        return StepResult(intent_id, Outcome.MISSING, None)
    if intent.state is not STEPS[step].expects:
        return StepResult(intent_id, Outcome.NOTHING_TO_DO, intent.state)
    return intent


# ---------------------------------------------------------------- the writes, one statement each

_MOVE_SQL = text("""
    UPDATE payment_intents SET state = :state, state_changed_at = :now, step_deadline_at = :deadline,
                               failure_reason = :reason
    WHERE id = :id""")
_SET_ATTEMPT_SQL = text("""
    UPDATE funding_attempts SET state = :state, gmf_amount = coalesce(:gmf, gmf_amount),
                                decline_reason = coalesce(:reason, decline_reason), updated_at = :now
    WHERE id = :id""")
_RESOLVE_HOLDS_SQL = text(f"""
    UPDATE holds SET state = :state, resolved_at = :now
    WHERE attempt_id = ANY(:attempt_ids) AND state = '{HoldState.PENDING.value}'
    RETURNING attempt_id, amount""")
_PLACE_HOLD_SQL = text(f"""
    INSERT INTO holds (savings_account_id, attempt_id, amount, state, expires_at)
    VALUES (:account_id, :attempt_id, :amount, '{HoldState.PENDING.value}', :expires_at)""")
_AUDIT_SQL = text("""
    INSERT INTO audit_events (member_id, kind, payment_intent_id, detail)
    VALUES (:member_id, :kind, :intent_id, CAST(:detail AS jsonb))""")
# The allocation rows, and what each pays added to its installment, in one statement.
# Under the obligation's lock; the installments' CHECK keeps every component within
# what was billed.
_COMPONENTS = [c.value for c in ALLOCATION_ORDER]  # late_interest, fees, interest, principal
_ALLOCATE_SQL = text(f"""
    WITH rows AS (
        SELECT * FROM unnest(CAST(:line_ids AS bigint[]), CAST(:obligation_ids AS integer[]),
                             CAST(:installment_ids AS integer[]),
                             {", ".join(f"CAST(:{c} AS numeric[])" for c in _COMPONENTS)},
                             CAST(:is_prepayment AS boolean[]))
               WITH ORDINALITY AS r(line_id, obligation_id, installment_id, {", ".join(_COMPONENTS)}, is_prepayment, n)
    ), stored AS (
        INSERT INTO allocations (intent_id, line_id, obligation_id, installment_id, {", ".join(_COMPONENTS)},
                                 is_prepayment)
        SELECT :intent_id, line_id, obligation_id, installment_id, {", ".join(_COMPONENTS)}, is_prepayment
        FROM rows ORDER BY n
    )
    UPDATE installments i
    SET {", ".join(f"{PAID_PREFIX}{c} = i.{PAID_PREFIX}{c} + r.{c}" for c in _COMPONENTS)}
    FROM rows r WHERE i.id = r.installment_id""")
_RESCHEDULE_SQL = text(
    "UPDATE installments SET due_date = :due_date, principal = :principal, interest = :interest, fees = :fees "
    "WHERE id = :id")
_DROP_INSTALLMENTS_SQL = text("DELETE FROM installments WHERE id = ANY(:ids)")
_SET_INSTALLMENT_AMOUNT_SQL = text("UPDATE obligations SET installment_amount = :amount WHERE id = :id")
_PAID_OFF_SQL = text("UPDATE obligations SET status = 'paid_off' WHERE id = :id")
# Last statement before COMMIT: the global counter row stays locked until then and every
# payment waits on it, so nothing else may come after it. Gapless: a rollback undoes the
# bump with the payment.
_APPLIED_WITH_RECEIPT_SQL = text(f"""
    WITH receipt AS (
        INSERT INTO receipt_counters (series, last_number) VALUES (:series, 1)
        ON CONFLICT (series) DO UPDATE SET last_number = receipt_counters.last_number + 1
        RETURNING last_number
    )
    UPDATE payment_intents
    SET state = '{IntentState.APPLIED.value}', state_changed_at = :now, applied_at = :now, step_deadline_at = NULL,
        failure_reason = NULL, receipt_number = (SELECT last_number FROM receipt)
    WHERE id = :id
    RETURNING receipt_number""")
# A batch (db/payments/batch.py) applies its intents first and numbers them all at its
# end, so that the counter's lock is held for one statement and the commit, not for
# the whole batch.
_APPLIED_UNNUMBERED_SQL = text(f"""
    UPDATE payment_intents
    SET state = '{IntentState.APPLIED.value}', state_changed_at = :now, applied_at = :now, step_deadline_at = NULL,
        failure_reason = NULL
    WHERE id = :id""")
_NUMBER_RECEIPTS_SQL = text("""
    WITH receipt AS (
        INSERT INTO receipt_counters (series, last_number) VALUES (:series, :n)
        ON CONFLICT (series) DO UPDATE SET last_number = receipt_counters.last_number + :n
        RETURNING last_number
    )
    UPDATE payment_intents p SET receipt_number = (SELECT last_number FROM receipt) - :n + o.ord
    FROM unnest(CAST(:ids AS bigint[])) WITH ORDINALITY AS o(id, ord)
    WHERE p.id = o.id
    RETURNING p.id, p.receipt_number""")


def number_receipts(session: Session, intent_ids: list[int]) -> dict[int, int]:
    """Gapless receipt numbers for intents applied unnumbered in this transaction, in the
    order given; ONE statement, the last before COMMIT (the counter's lock)."""
    if not intent_ids:
        return {}
    rows = session.execute(_NUMBER_RECEIPTS_SQL, {"series": RECEIPT_SERIES, "n": len(intent_ids),
                                                  "ids": intent_ids}).all()
    if len(rows) != len(intent_ids):  # the counter moved by n: fewer rows would leave a gap
        raise RuntimeError(f"receipt numbers for {len(rows)} of {len(intent_ids)} intents")
    return {intent_id: number for intent_id, number in rows}


def _move(
    session: Session, step: Step, intent: IntentRow, target: IntentState, now: datetime, *,
    deadline: datetime | None = None, reason: str | None = None,
) -> None:
    ensure_step_move(step, intent.state, target)
    ensure_transition(intent.state, target)
    session.execute(_MOVE_SQL, {"id": intent.id, "state": target.value, "now": now, "deadline": deadline,
                                "reason": reason[:200] if reason else None})


def _set_attempts(session: Session, step: Step, moves: Iterable[tuple[AttemptRow, AttemptState, Decimal | None]],
                  now: datetime, reason: str | None = None) -> None:
    """Move funding attempts (checked against their state machine and the step's edges in
    the step table); gmf None keeps it."""
    params = []
    for attempt, target, tax in moves:
        ensure_attempt_transition(attempt.state, target)
        ensure_step_attempt_move(step, attempt.state, target)
        params.append({"id": attempt.id, "state": target.value, "gmf": tax, "now": now,
                       "reason": reason[:200] if reason else None})
    if params:
        session.execute(_SET_ATTEMPT_SQL, params)


def _resolve_holds(session: Session, intent: IntentRow, target: HoldState, now: datetime) -> dict[int, Decimal]:
    """Post or void the intent's pending holds (only pending ones move: TigerBeetle's
    pending transfer resolves once). Returns what each resolved hold reserved, by attempt."""
    ensure_hold_transition(HoldState.PENDING, target)
    if not intent.attempts:
        return {}
    rows = session.execute(_RESOLVE_HOLDS_SQL, {"state": target.value, "now": now,
                                                "attempt_ids": [a.id for a in intent.attempts]})
    return {attempt_id: amount for attempt_id, amount in rows}


def _audit(session: Session, intent: IntentRow, kind: str, detail: Mapping[str, object]) -> None:
    session.execute(_AUDIT_SQL, {"member_id": intent.member_id, "kind": kind, "intent_id": intent.id,
                                 "detail": json.dumps(detail)})


# ---------------------------------------------------------------- checking under lock


def _request_of(intent: IntentRow) -> PaymentRequest:
    """The intent's request as stored (amounts and ids as written at creation)."""
    return PaymentRequest(
        kind=intent.kind.value,
        lines=tuple(
            LineRequest(amount=line.amount, obligation_id=line.obligation_id,
                        target_savings_account_id=line.target_savings_account_id,
                        prepayment_mode=line.prepayment_mode)
            for line in intent.lines
        ),
        funding=tuple(
            FundingRequest(amount=a.amount, savings_account_id=a.savings_account_id, pse=a.kind is AttemptKind.PSE)
            for a in intent.attempts
            if a.state not in _DEAD_ATTEMPTS
        ),
    )


_DEAD_ATTEMPTS = (AttemptState.DECLINED, AttemptState.FAILED, AttemptState.VOIDED)


@dataclass
class _Locked:
    request: PaymentRequest
    accounts: dict[int, SavingsRow]
    obligations: dict[int, ObligationRow]
    plans: dict[int, ObligationPlan]
    failure_reason: str | None
    # GMF of each live funding attempt, by attempt id, as decided under the account locks
    # (db/payments/gmf.py: exemption allowance of the month, transfers between own accounts).
    gmf: dict[int, Decimal] = field(default_factory=dict)


def _lock_and_check(session: Session, intent: IntentRow, *, today: date, settings: Settings) -> _Locked:
    request = _request_of(intent)
    # Our own holds reserve money FOR this payment: they must not count against it.
    accounts = load_accounts(session, intent.member_id, request.source_account_ids + request.target_account_ids,
                             today=today, lock=True, exclude_intent_id=intent.id)
    obligations = load_obligations(session, intent.member_id, request.obligation_ids, lock=True)
    taxes = request_gmf(request, accounts, today=today)
    rows, plans = evaluate_rows(
        session, intent.member_id, request, obligations, accounts,
        today=today, settings=settings, in_progress_states=LOCKED_IN_PROGRESS, exclude_intent_id=intent.id,
        gmf_taxes=taxes,
    )
    failed = first_failure(rows)
    live = [a for a in intent.attempts if a.state not in _DEAD_ATTEMPTS]  # as _request_of builds the funding
    return _Locked(request, accounts, obligations, plans, failed.reason if failed else None,
                   {a.id: tax for a, tax in zip(live, taxes, strict=True)})


# ---------------------------------------------------------------- the steps


def apply_intent(
    session: Session, intent_id: int, *, now: datetime | None = None, settings: Settings | None = None,
    numbered: bool = True,
) -> StepResult:
    """Savings-only: created → applied in this one transaction, or → rejected with the
    failed requirement's reason ("Saldo insuficiente") and nothing posted. `numbered`
    False leaves the receipt number to the caller's `number_receipts` before its commit."""
    settings = settings or get_settings()
    now = now or utcnow()
    intent = _lock_expecting(session, intent_id, Step.APPLY)
    if isinstance(intent, StepResult):
        return intent
    if intent.external:  # those take the hold path
        return StepResult(intent_id, Outcome.NOTHING_TO_DO, intent.state)
    locked = _lock_and_check(session, intent, today=bogota_date(now), settings=settings)
    if locked.failure_reason is not None:
        return _reject(session, Step.APPLY, intent, locked.failure_reason, now)
    _book(session, Step.APPLY, intent, locked, now)
    return _finish_applied(session, Step.APPLY, intent, now, numbered=numbered)


def _reject(session: Session, step: Step, intent: IntentRow, reason: str, now: datetime) -> StepResult:
    _move(session, step, intent, IntentState.REJECTED, now, reason=reason)
    _set_attempts(session, step, (
        (a, AttemptState.VOIDED if a.state is AttemptState.HELD else AttemptState.DECLINED, None)
        for a in intent.attempts if not a.state.is_terminal()
    ), now, reason)
    _resolve_holds(session, intent, HoldState.VOIDED, now)
    if intent.external:  # a PSE ticket never sent is closed with it (never sent later)
        session.execute(_NEVER_SENT_SQL, {"intent_id": intent.id, "now": now}).all()
    _audit(session, intent, "payment_rejected", {"reason": reason})
    log.info("payment intent rejected", extra={"payment_intent_id": intent.id, "reason": reason})
    return StepResult(intent.id, Outcome.REJECTED, IntentState.REJECTED, reason)


def _book(session: Session, step: Step, intent: IntentRow, locked: _Locked, now: datetime) -> None:
    """Debit the sources (plus GMF), credit what each line pays, in ONE journal entry;
    store the allocation rows and update the installments."""
    ids = chart.coop_account_ids(session)
    amounts = EntryAmounts()  # the payment's posting recipe (db/posting.py)
    total_gmf = ZERO
    posted: list[tuple[AttemptRow, AttemptState, Decimal | None]] = []
    for attempt in intent.attempts:
        if attempt.kind is AttemptKind.PSE and not attempt.state.is_terminal():
            # PSE approved it (the caller checked): ACH pays the cooperative's bank account.
            amounts.debit(ids["banks"], attempt.amount)
            posted.append((attempt, AttemptState.POSTED, None))
            continue
        if attempt.kind is not AttemptKind.SAVINGS or attempt.state.is_terminal():
            continue
        account = locked.accounts[attempt.savings_account_id]  # type: ignore[index]
        # A held attempt posts exactly what its hold reserved (DESIGN §4 rule 11): the GMF
        # decided at hold time, stored on the attempt, never recomputed from the account's
        # flags as they are now (an exemption flipped in between would debit more than the
        # hold reserved, below the minimum balance).
        tax = attempt.gmf_amount if attempt.state is AttemptState.HELD else locked.gmf[attempt.id]
        total_gmf += tax
        amounts.debit(account.ledger_account_id, attempt.amount + tax)
        posted.append((attempt, AttemptState.POSTED, tax))  # from pending, or held (settle)
    if total_gmf:
        amounts.credit(ids["gmf_payable"], total_gmf)
    allocation_rows: list[dict[str, object]] = []
    for line in intent.lines:
        if line.target_savings_account_id is not None:
            amounts.credit(locked.accounts[line.target_savings_account_id].ledger_account_id, line.amount)
            continue
        assert line.obligation_id is not None
        obligation = locked.obligations[line.obligation_id]
        plan = locked.plans[line.obligation_id]
        split = split_amount(plan, line.amount)
        for row in split.rows:
            amounts.credit_installment(ids, obligation.ledger_account_id, row)
            allocation_rows.append({
                "line_id": line.id, "obligation_id": obligation.id, "installment_id": row.installment_id,
                **{c.value: row.amount(c) for c in ALLOCATION_ORDER}, "is_prepayment": False,
            })
        later_left = bool(plan.later_installments)
        if split.prepayment > 0:
            amounts.credit(obligation.ledger_account_id, split.prepayment)
            allocation_rows.append({
                "line_id": line.id, "obligation_id": obligation.id, "installment_id": None,
                **{c.value: ZERO for c in ALLOCATION_ORDER}, "principal": split.prepayment, "is_prepayment": True,
            })
            later_left = _reschedule(session, obligation, plan, split.prepayment,
                                     line.prepayment_mode or PrepaymentMode.REDUCE_TERM)
        # Ley 1555: principal returned before the due date stops accruing interest.
        forgiven = rebill_current_period(session, plan, split, bogota_date(now))
        paid_by_row = {row.installment_id: row.total for row in split.rows}
        if obligation.loan is not None and not later_left and sum(
            (i.outstanding - paid_by_row.get(i.id, ZERO) for i in plan.due_installments), ZERO
        ) - forgiven <= 0:
            session.execute(_PAID_OFF_SQL, {"id": obligation.id})  # dues keep being billed; loans end
    _set_attempts(session, step, posted, now)
    post_entry(
        session,
        kind="transfer" if intent.kind is IntentKind.TRANSFER else "payment",
        description=f"{'Transferencia' if intent.kind is IntentKind.TRANSFER else 'Pago'} Zona Privada No. {intent.id}",
        postings=amounts.postings(),
        payment_intent_id=intent.id,
    )
    if allocation_rows:
        def column(name: str) -> list[object]:
            return [r[name] for r in allocation_rows]

        session.execute(_ALLOCATE_SQL, {
            "intent_id": intent.id, "line_ids": column("line_id"), "obligation_ids": column("obligation_id"),
            "installment_ids": column("installment_id"), **{c.value: column(c.value) for c in ALLOCATION_ORDER},
            "is_prepayment": column("is_prepayment"),
        })


def _reschedule(
    session: Session, obligation: ObligationRow, plan: ObligationPlan, prepayment: Decimal, mode: PrepaymentMode
) -> bool:
    """Ley 1555 de 2012: the installments after the next one are recomputed on the
    reduced balance, shortening the term or lowering the installment as chosen. Returns
    whether any installment is left after the next one."""
    later = list(plan.later_installments)
    loan = obligation.loan
    assert loan is not None and later, "only a loan with installments left can be prepaid"
    assert all(i.paid == 0 for i in later), "installments after the next one are never partly paid"
    balance = sum((i.principal for i in later), ZERO) - prepayment
    assert balance >= 0
    if balance == 0:
        session.execute(_DROP_INSTALLMENTS_SQL, {"ids": [i.id for i in later]})
        return False
    level = obligation.installment_amount - loan.monthly_fee
    schedule = reschedule_after_prepayment(
        balance, loan.ea_rate, len(later), level, later[0].due_date, mode, monthly_fee=loan.monthly_fee
    )
    session.execute(_RESCHEDULE_SQL, [
        {"id": installment.id, "due_date": row.due_date, "principal": row.principal, "interest": row.interest,
         "fees": row.fees}
        for installment, row in zip(later, schedule)
    ])
    dropped = [i.id for i in later[len(schedule):]]
    if dropped:
        session.execute(_DROP_INSTALLMENTS_SQL, {"ids": dropped})
    if mode is PrepaymentMode.REDUCE_INSTALLMENT:
        session.execute(_SET_INSTALLMENT_AMOUNT_SQL, {"id": obligation.id, "amount": schedule[0].total})
    return True


def _finish_applied(session: Session, step: Step, intent: IntentRow, now: datetime, *, late: bool = False,
                    numbered: bool = True) -> StepResult:
    # The intent goes from the state the step expects straight to applied in this commit
    # (no stored `applying`: see IntentState). A late approval comes from an end state
    # instead (LATE_APPROVAL_TRANSITIONS), never through a step.
    if late:
        if (intent.state, IntentState.APPLIED) not in LATE_APPROVAL_TRANSITIONS:
            raise IllegalTransition(intent.state, IntentState.APPLIED)
    else:
        ensure_step_move(step, intent.state, IntentState.APPLIED)
    ensure_transition(intent.state, IntentState.APPLIED)
    _audit(session, intent, "payment_applied", {"total": str(intent.total_amount)})
    # The receipt e-mail is composed from the stored rows when it is sent, not here.
    outbox.enqueue_receipt(session, intent_id=intent.id, member_id=intent.member_id)
    if numbered:
        number = session.execute(_APPLIED_WITH_RECEIPT_SQL, {"id": intent.id, "now": now, "series": RECEIPT_SERIES}
                                 ).scalar_one()
        log.info("payment intent applied", extra={"payment_intent_id": intent.id, "receipt_number": number})
    else:
        session.execute(_APPLIED_UNNUMBERED_SQL, {"id": intent.id, "now": now})
    observe_applied(session, intent.created_at, now)  # recorded at commit, no database work
    return StepResult(intent.id, Outcome.APPLIED, IntentState.APPLIED)


# --- two-phase holds: for intents that wait on an outside party (PSE, later) ---------


def place_holds(
    session: Session, intent_id: int, *, now: datetime | None = None, settings: Settings | None = None
) -> StepResult:
    """created → funding: reserve each savings part as a pending hold (TigerBeetle's
    pending transfer). The balance does not move; the available balance does."""
    settings = settings or get_settings()
    now = now or utcnow()
    intent = _lock_expecting(session, intent_id, Step.HOLD)
    if isinstance(intent, StepResult):
        return intent
    locked = _lock_and_check(session, intent, today=bogota_date(now), settings=settings)
    if locked.failure_reason is not None:
        return _reject(session, Step.HOLD, intent, locked.failure_reason, now)
    # The reconciler looks at a funding intent when its funding window closes (then
    # EXPIRE runs); until then PSE's answer moves it, and nothing needs re-driving (a
    # lost create message is the PSE poller's, which sweeps tickets never sent).
    _move(session, Step.HOLD, intent, IntentState.FUNDING, now, deadline=funding_expires_at(intent, settings))
    held: list[tuple[AttemptRow, AttemptState, Decimal | None]] = []
    holds: list[dict[str, object]] = []
    for attempt in intent.attempts:
        if attempt.kind is not AttemptKind.SAVINGS:
            continue
        account = locked.accounts[attempt.savings_account_id]  # type: ignore[index]
        tax = locked.gmf[attempt.id]
        held.append((attempt, AttemptState.HELD, tax))
        holds.append({"account_id": account.id, "attempt_id": attempt.id, "amount": attempt.amount + tax,
                      "expires_at": funding_expires_at(intent, settings)})
    _set_attempts(session, Step.HOLD, held, now)
    if holds:
        session.execute(_PLACE_HOLD_SQL, holds)
    log.info("payment intent funds held", extra={"payment_intent_id": intent.id})
    # PSE's create comes next (workers.pse_tasks), after this commit.
    send = ("pse_send",) if any(a.kind is AttemptKind.PSE for a in intent.attempts) else ()
    return StepResult(intent.id, Outcome.HELD, IntentState.FUNDING, next_steps=send)


def funding_expires_at(intent: IntentRow, settings: Settings) -> datetime:
    """When a funding intent stops waiting: the PSE funding window from the intent's
    creation (PSE's session lasts about 21 minutes), else the holds' TTL."""
    if any(a.kind is AttemptKind.PSE for a in intent.attempts):
        return intent.created_at + timedelta(seconds=settings.pse_funding_window_s)
    return intent.created_at + timedelta(seconds=settings.hold_ttl_s)


def mark_funded(session: Session, intent_id: int, *, now: datetime | None = None) -> StepResult:
    """funding → funded: every outside source answered yes (the PSE issue calls this when
    PSE says OK). Returns the settle step to enqueue after commit."""
    now = now or utcnow()
    intent = _lock_expecting(session, intent_id, Step.FUND)
    if isinstance(intent, StepResult):
        return intent
    _move(session, Step.FUND, intent, IntentState.FUNDED, now,
          deadline=now + timedelta(seconds=get_settings().intent_step_deadline_s))
    next_step = step_for(IntentState.FUNDED, external=True)
    return StepResult(intent.id, Outcome.FUNDED, IntentState.FUNDED,
                      next_steps=(next_step.value,) if next_step else ())


def settle_intent(
    session: Session, intent_id: int, *, now: datetime | None = None, settings: Settings | None = None
) -> StepResult:
    """funded → applied: post the holds (the reserved money moves) and apply, in one
    transaction. The holds already passed the balance check when placed."""
    settings = settings or get_settings()
    now = now or utcnow()
    intent = _lock_expecting(session, intent_id, Step.SETTLE)
    if isinstance(intent, StepResult):
        return intent
    locked = _lock_and_check(session, intent, today=bogota_date(now), settings=settings)
    if locked.failure_reason is not None and locked.failure_reason not in _HOLD_COVERED:
        # The money is reserved, but the obligation changed meanwhile (paid elsewhere):
        # nothing is applied in part, the holds are voided.
        return _fail(session, Step.SETTLE, intent, locked.failure_reason, now)
    posted_holds = _resolve_holds(session, intent, HoldState.POSTED, now)
    # The balance check is not repeated: the reservation is what guaranteed the money, so
    # what is debited must be exactly what was reserved (TigerBeetle: a post never
    # exceeds its pending transfer). A mismatch is a bug: raise, nothing commits.
    for attempt in intent.attempts:
        if attempt.state is AttemptState.HELD:
            reserved = posted_holds.get(attempt.id)
            if reserved != attempt.amount + attempt.gmf_amount:
                raise AssertionError(f"attempt {attempt.id}: hold reserved {reserved}, "
                                     f"would post {attempt.amount + attempt.gmf_amount}")
    _book(session, Step.SETTLE, intent, locked, now)
    applied = _finish_applied(session, Step.SETTLE, intent, now)
    if any(a.kind is AttemptKind.PSE for a in intent.attempts):
        session.execute(_PSE_APPLIED_SQL, {"intent_id": intent.id})
        # PSE is told the payment was applied (finalizeTransactionPayment), after commit.
        return StepResult(applied.intent_id, applied.outcome, applied.state, next_steps=("pse_finalize",))
    return applied


_PSE_APPLIED_SQL = text(f"""
    UPDATE pse_transactions t SET resolution = '{PseResolution.APPLIED.value}'
    FROM funding_attempts f WHERE f.id = t.attempt_id AND f.intent_id = :intent_id""")
_APPROVED_PSE_SQL = text(f"""
    SELECT f.id, f.amount, t.id AS tx_id, t.trazability_code FROM funding_attempts f
    JOIN pse_transactions t ON t.attempt_id = f.id
    WHERE f.intent_id = :intent_id AND t.state = '{PseState.OK.value}'
      AND f.state IN ('{AttemptState.PENDING.value}', '{AttemptState.UNKNOWN.value}')""")


# Requirements a posted hold already guarantees (its own money was reserved) or that
# were decided at hold time; re-checking them at settle would fail paid-for payments.
_HOLD_COVERED = frozenset({REASON_INSUFFICIENT, REASON_TX_LIMIT, REASON_DAY_LIMIT})


_FILE_REVIEW_SQL = text(f"""
    INSERT INTO review_items (kind, payment_intent_id, reason, amount, detail)
    VALUES (:kind, :intent_id, :reason, :amount, CAST(:detail AS jsonb))
    ON CONFLICT (payment_intent_id) WHERE state = '{ReviewState.OPEN.value}' DO NOTHING""")


def _fail(session: Session, step: Step, intent: IntentRow, reason: str, now: datetime) -> StepResult:
    _move(session, step, intent, IntentState.FAILED, now, reason=reason)
    # Money PSE already approved is refunded to the member's savings (and reviewed).
    approved = session.execute(_APPROVED_PSE_SQL, {"intent_id": intent.id}).all()
    for attempt_id, amount, tx_id, cus in approved:
        refund_approval(session, intent, attempt_id, amount, tx_id, cus, now, kind=ReviewKind.APPROVED_NOT_APPLIED,
                        why=reason[:120])
    refunded = {row[0] for row in approved}
    # Only the holds are undone. An attempt PSE may still approve (pending, unknown) is
    # left as it is, never failed locally (DESIGN §5): the intent goes to the review
    # queue in this same transaction, where a late approval is applied or refunded.
    awaiting = [a for a in intent.attempts if may_still_be_approved(a.kind, a.state) and a.id not in refunded]
    if awaiting:
        session.execute(_FILE_REVIEW_SQL, {
            "kind": ReviewKind.FAILED_AWAITING_APPROVAL.value, "intent_id": intent.id, "amount": intent.total_amount,
            "reason": f"El pago falló ({reason[:120]}) con un intento que PSE aún puede aprobar",
            "detail": json.dumps({"attempts": [{"id": a.id, "kind": a.kind.value, "state": a.state.value,
                                                "amount": str(a.amount)} for a in awaiting]}),
        })
        log.warning("failed payment intent has an attempt PSE may still approve: filed for review",
                    extra={"payment_intent_id": intent.id})
    _void_held(session, step, intent, now)
    log.warning("payment intent failed", extra={"payment_intent_id": intent.id, "reason": reason})
    return StepResult(intent.id, Outcome.RELEASED, IntentState.FAILED, reason)


def _void_held(session: Session, step: Step, intent: IntentRow, now: datetime) -> None:
    """Void every held attempt and its pending hold: the reserved money is free again."""
    _set_attempts(session, step,
                  ((a, AttemptState.VOIDED, None) for a in intent.attempts if a.state is AttemptState.HELD), now)
    _resolve_holds(session, intent, HoldState.VOIDED, now)


def release_intent(
    session: Session, intent_id: int, reason: str, *, expired: bool = False, now: datetime | None = None
) -> StepResult:
    """funding → rejected/expired: the outside party said no (or never answered within
    the hold's TTL): void the holds, nothing moves."""
    now = now or utcnow()
    step = Step.EXPIRE if expired else Step.RELEASE
    intent = _lock_expecting(session, intent_id, step)
    if isinstance(intent, StepResult):
        return intent
    target = STEPS[step].success
    _move(session, step, intent, target, now, reason=reason)
    _void_held(session, step, intent, now)
    if step is Step.RELEASE:
        # PSE said no (or never had it): its attempt is declined with the intent.
        _set_attempts(session, step, ((a, AttemptState.DECLINED, None) for a in intent.attempts
                                      if a.kind is AttemptKind.PSE and may_still_be_approved(a.kind, a.state)),
                      now, reason)
    else:
        # Expired: a create never sent is declined and will never be sent; one that was
        # sent stays as it is, still queried (a late approval is applied or refunded).
        never_sent = session.execute(_NEVER_SENT_SQL, {"intent_id": intent.id, "now": now}).scalars().all()
        _set_attempts(session, step, ((a, AttemptState.DECLINED, None) for a in intent.attempts
                                      if a.id in never_sent), now, "No se envió a PSE")
    log.info("payment intent released", extra={"payment_intent_id": intent.id, "reason": reason})
    return StepResult(intent.id, Outcome.RELEASED, target, reason)


# Under the intent's lock, so the PSE create (which takes the same lock and checks the
# intent is still funding) can no longer be sent.
_NEVER_SENT_SQL = text(f"""
    UPDATE pse_transactions t SET state = '{PseState.NOT_CREATED.value}', return_code = 'NO_ENVIADA',
                                  answered_at = :now
    FROM funding_attempts f
    WHERE f.id = t.attempt_id AND f.intent_id = :intent_id AND t.state = '{PseState.CREATED.value}'
    RETURNING f.id""")


_HOLDS_EXPIRE_AT_SQL = text(f"""
    SELECT (SELECT min(h.expires_at) FROM holds h JOIN funding_attempts f ON f.id = h.attempt_id
            WHERE f.intent_id = :id AND h.state = '{HoldState.PENDING.value}'),
           (SELECT created_at FROM payment_intents WHERE id = :id),
           EXISTS (SELECT 1 FROM funding_attempts f WHERE f.intent_id = :id AND f.kind = '{AttemptKind.PSE.value}')""")
_PUSH_DEADLINE_SQL = text("UPDATE payment_intents SET step_deadline_at = :at WHERE id = :id AND step_deadline_at < :at")


def expire_if_overdue(
    session: Session, intent_id: int, *, now: datetime | None = None, settings: Settings | None = None
) -> StepResult:
    """The reconciler's step for a `funding` intent: once its funding window has closed
    without an answer, void the holds; before that, set the deadline to the window's end.

    A PSE attempt still pending at PSE is NOT failed (DESIGN §5): the intent expires for
    the member (the half-hour promise), its savings are freed, and the transaction keeps
    being queried; an approval that comes later is a late approval (applied or refunded
    and reviewed, db/payments/late_approvals.py)."""
    settings = settings or get_settings()
    now = now or utcnow()
    holds_expire, created_at, pse = session.execute(_HOLDS_EXPIRE_AT_SQL, {"id": intent_id}).one()
    if created_at is None:
        return StepResult(intent_id, Outcome.MISSING, None)
    window = settings.pse_funding_window_s if pse else settings.hold_ttl_s
    expires = created_at + timedelta(seconds=window)
    if holds_expire is not None:
        expires = min(expires, holds_expire)
    if expires <= now:
        return release_intent(session, intent_id, "Tiempo de espera del pago agotado", expired=True, now=now)
    session.execute(_PUSH_DEADLINE_SQL, {"id": intent_id, "at": expires})
    return StepResult(intent_id, Outcome.NOTHING_TO_DO, None)


_HAS_EXTERNAL_SQL = text(
    f"SELECT EXISTS (SELECT 1 FROM funding_attempts WHERE intent_id = :id AND kind = '{AttemptKind.PSE.value}')")


def has_external_funding(session: Session, intent_id: int) -> bool:
    return bool(session.execute(_HAS_EXTERNAL_SQL, {"id": intent_id}).scalar_one())


__all__ = [
    "Outcome", "StepResult", "apply_intent", "expire_if_overdue", "lock_intent", "mark_funded",
    "number_receipts", "place_holds", "release_intent", "settle_intent", "step_for",
]
