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

import logging
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import delete, func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session, selectinload

from domain.amortization import PrepaymentMode, reschedule_after_prepayment
from domain.bogota_calendar import bogota_date
from domain.money import gmf
from domain.payment_request import FundingRequest, LineRequest, PaymentRequest
from domain.payment_states import (
    AttemptKind,
    AttemptState,
    HoldState,
    IntentState,
    ensure_attempt_transition,
    ensure_hold_transition,
    ensure_transition,
)
from domain.requirements import REASON_DAY_LIMIT, REASON_INSUFFICIENT, REASON_TX_LIMIT, first_failure
from zona_privada.settings import Settings, get_settings

from .. import chart
from ..ledger import Posting, credit, debit, post_entry
from ..models import (
    Allocation,
    AuditEvent,
    FundingAttempt,
    Hold,
    Installment,
    IntentKind,
    Member,
    Obligation,
    ObligationStatus,
    OutboxMessage,
    PaymentIntent,
    ReceiptCounter,
    SavingsAccount,
)
from .planning import ObligationPlan, split_amount
from .receipts import format_receipt_number, receipt_email
from .requirements import LOCKED_IN_PROGRESS, evaluate_rows, owned_accounts, owned_obligations
from .intents import utcnow

log = logging.getLogger(__name__)
ZERO = Decimal("0.00")
RECEIPT_SERIES = "recibos"


class Outcome(StrEnum):
    APPLIED = "applied"
    REJECTED = "rejected"
    HELD = "held"
    RELEASED = "released"
    NOTHING_TO_DO = "nothing_to_do"  # the state was not the expected one: a re-run
    MISSING = "missing"


@dataclass(frozen=True, slots=True)
class StepResult:
    intent_id: int
    outcome: Outcome
    state: IntentState | None
    reason: str | None = None
    # Steps to enqueue once this transaction has committed (DESIGN §4 rule 2).
    next_steps: tuple[str, ...] = field(default_factory=tuple)


def lock_intent(session: Session, intent_id: int) -> PaymentIntent | None:
    return session.execute(
        select(PaymentIntent)
        .where(PaymentIntent.id == intent_id)
        .with_for_update()
        .options(selectinload(PaymentIntent.lines), selectinload(PaymentIntent.attempts))
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()


def _lock_expecting(session: Session, intent_id: int, expected: IntentState) -> PaymentIntent | StepResult:
    """DESIGN §4 rule 1: lock the intent row and check the state this step expects; any
    other state means the step already ran (or another one did), so it does nothing."""
    intent = lock_intent(session, intent_id)
    if intent is None:
        return StepResult(intent_id, Outcome.MISSING, None)
    if intent.state is not expected:
        return StepResult(intent_id, Outcome.NOTHING_TO_DO, intent.state)
    return intent


def _move(intent: PaymentIntent, target: IntentState, now: datetime) -> None:
    ensure_transition(intent.state, target)
    intent.state = target
    intent.state_changed_at = now


def _request_of(intent: PaymentIntent) -> PaymentRequest:
    """The intent's request as stored (amounts and ids as written at creation)."""
    return PaymentRequest(
        kind=intent.kind.value,
        lines=tuple(
            LineRequest(
                amount=line.amount,
                obligation_id=line.obligation_id,
                target_savings_account_id=line.target_savings_account_id,
                prepayment_mode=PrepaymentMode(line.prepayment_mode) if line.prepayment_mode else None,
            )
            for line in intent.lines
        ),
        funding=tuple(
            FundingRequest(amount=a.amount, savings_account_id=a.savings_account_id, pse=a.kind is AttemptKind.PSE)
            for a in intent.attempts
            if a.state not in (AttemptState.DECLINED, AttemptState.FAILED, AttemptState.VOIDED)
        ),
    )


@dataclass
class _Locked:
    request: PaymentRequest
    accounts: dict[int, SavingsAccount]
    obligations: dict[int, Obligation]
    plans: dict[int, ObligationPlan]
    failure_reason: str | None


def _lock_and_check(session: Session, intent: PaymentIntent, *, today: date, settings: Settings) -> _Locked:
    request = _request_of(intent)
    accounts = owned_accounts(
        session, intent.member_id, request.source_account_ids + request.target_account_ids, lock=True
    )
    obligations = owned_obligations(session, intent.member_id, request.obligation_ids, lock=True)
    rows, plans = evaluate_rows(
        session, intent.member_id, request, obligations, accounts,
        today=today, settings=settings, in_progress_states=LOCKED_IN_PROGRESS,
        # Our own holds reserve money FOR this payment: they must not count against it.
        exclude_intent_id=intent.id,
    )
    failed = first_failure(rows)
    return _Locked(request, accounts, obligations, plans, failed.reason if failed else None)


def apply_intent(
    session: Session, intent_id: int, *, now: datetime | None = None, settings: Settings | None = None
) -> StepResult:
    """Savings-only: created → applied in this one transaction, or → rejected with the
    failed requirement's reason ("Saldo insuficiente") and nothing posted."""
    settings = settings or get_settings()
    now = now or utcnow()
    intent = _lock_expecting(session, intent_id, IntentState.CREATED)
    if isinstance(intent, StepResult):
        return intent
    if any(a.kind is AttemptKind.PSE for a in intent.attempts):  # those take the hold path
        return StepResult(intent_id, Outcome.NOTHING_TO_DO, intent.state)
    locked = _lock_and_check(session, intent, today=bogota_date(now), settings=settings)
    if locked.failure_reason is not None:
        return _reject(session, intent, locked.failure_reason, now)
    _move(intent, IntentState.APPLYING, now)
    _book(session, intent, locked, now)
    return _finish_applied(session, intent, now)


def _reject(session: Session, intent: PaymentIntent, reason: str, now: datetime) -> StepResult:
    _move(intent, IntentState.REJECTED, now)
    intent.failure_reason = reason[:200]
    intent.step_deadline_at = None
    for attempt in intent.attempts:
        if not attempt.state.is_terminal():
            target = AttemptState.VOIDED if attempt.state is AttemptState.HELD else AttemptState.DECLINED
            ensure_attempt_transition(attempt.state, target)
            attempt.state = target
            attempt.decline_reason = reason[:200]
            attempt.updated_at = now
    _void_holds(session, intent, now)
    session.add(AuditEvent(member_id=intent.member_id, kind="payment_rejected", payment_intent_id=intent.id,
                           detail={"reason": reason}))
    session.flush()
    log.info("payment intent rejected", extra={"intent_id": intent.id, "reason": reason})
    return StepResult(intent.id, Outcome.REJECTED, intent.state, reason)


def _book(session: Session, intent: PaymentIntent, locked: _Locked, now: datetime) -> None:
    """Debit the sources (plus GMF), credit what each line pays, in ONE journal entry;
    store the allocation rows and update the installments."""
    ids = chart.coop_account_ids(session)
    amounts: dict[int, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])  # ledger account → [debit, credit]
    total_gmf = ZERO
    for attempt in intent.attempts:
        if attempt.kind is not AttemptKind.SAVINGS or attempt.state.is_terminal():
            continue
        account = locked.accounts[attempt.savings_account_id]  # type: ignore[index]
        tax = ZERO if account.gmf_exempt else gmf(attempt.amount)
        attempt.gmf_amount = tax
        total_gmf += tax
        amounts[account.ledger_account_id][0] += attempt.amount + tax
        ensure_attempt_transition(attempt.state, AttemptState.POSTED)  # from pending, or held (settle)
        attempt.state = AttemptState.POSTED
        attempt.updated_at = now
    if total_gmf:
        amounts[ids["gmf_payable"]][1] += total_gmf
    allocation_rows: list[dict[str, object]] = []
    for line in intent.lines:
        if line.target_savings_account_id is not None:
            amounts[locked.accounts[line.target_savings_account_id].ledger_account_id][1] += line.amount
            continue
        assert line.obligation_id is not None
        obligation = locked.obligations[line.obligation_id]
        plan = locked.plans[line.obligation_id]
        split = split_amount(plan, line.amount)
        by_id = {i.id: i for i in plan.due_installments}
        for row in split.rows:
            by_id[row.installment_id].record(row)
            amounts[obligation.ledger_account_id][1] += row.principal
            amounts[ids["interest_income"]][1] += row.interest
            amounts[ids["insurance_payable"]][1] += row.fees
            amounts[ids["late_interest_income"]][1] += row.late_interest
            allocation_rows.append({
                "intent_id": intent.id, "line_id": line.id, "obligation_id": obligation.id,
                "installment_id": row.installment_id, "late_interest": row.late_interest, "fees": row.fees,
                "interest": row.interest, "principal": row.principal, "is_prepayment": False,
            })
        if split.prepayment > 0:
            amounts[obligation.ledger_account_id][1] += split.prepayment
            allocation_rows.append({
                "intent_id": intent.id, "line_id": line.id, "obligation_id": obligation.id,
                "installment_id": None, "late_interest": ZERO, "fees": ZERO, "interest": ZERO,
                "principal": split.prepayment, "is_prepayment": True,
            })
            mode = PrepaymentMode(line.prepayment_mode) if line.prepayment_mode else PrepaymentMode.REDUCE_TERM
            _reschedule(session, obligation, plan, split.prepayment, mode)
        _close_if_paid_off(obligation)
    postings = _net_postings(amounts)
    post_entry(
        session,
        kind="transfer" if intent.kind is IntentKind.TRANSFER else "payment",
        description=f"{'Transferencia' if intent.kind is IntentKind.TRANSFER else 'Pago'} Zona Privada No. {intent.id}",
        postings=postings,
        payment_intent_id=intent.id,
    )
    if allocation_rows:
        session.execute(insert(Allocation), allocation_rows)
    session.flush()


def _net_postings(amounts: Mapping[int, list[Decimal]]) -> list[Posting]:
    postings: list[Posting] = []
    for account_id in sorted(amounts):
        dr, cr = amounts[account_id]
        if dr > cr:
            postings.append(debit(account_id, dr - cr))
        elif cr > dr:
            postings.append(credit(account_id, cr - dr))
    return postings


def _reschedule(
    session: Session, obligation: Obligation, plan: ObligationPlan, prepayment: Decimal, mode: PrepaymentMode
) -> None:
    """Ley 1555 de 2012: the installments after the next one are recomputed on the
    reduced balance, shortening the term or lowering the installment as chosen."""
    later = list(plan.later_installments)
    loan = obligation.loan
    assert loan is not None and later, "only a loan with installments left can be prepaid"
    assert all(i.paid == 0 for i in later), "installments after the next one are never partly paid"
    balance = sum((i.principal for i in later), ZERO) - prepayment
    assert balance >= 0
    if balance == 0:
        session.execute(delete(Installment).where(Installment.id.in_([i.id for i in later])))
        session.expire(obligation, ["installments"])
        return
    level = obligation.installment_amount - loan.monthly_fee
    schedule = reschedule_after_prepayment(
        balance, loan.ea_rate, len(later), level, later[0].due_date, mode, monthly_fee=loan.monthly_fee
    )
    for installment, row in zip(later, schedule):
        installment.due_date = row.due_date
        installment.principal = row.principal
        installment.interest = row.interest
        installment.fees = row.fees
    dropped = [i.id for i in later[len(schedule):]]
    if dropped:
        session.flush()
        session.execute(delete(Installment).where(Installment.id.in_(dropped)))
        session.expire(obligation, ["installments"])
    if mode is PrepaymentMode.REDUCE_INSTALLMENT:
        obligation.installment_amount = schedule[0].total


def _close_if_paid_off(obligation: Obligation) -> None:
    if obligation.loan is None:
        return  # dues keep being billed every month
    if all(i.outstanding <= 0 for i in obligation.installments):
        obligation.status = ObligationStatus.PAID_OFF


def next_receipt_number(session: Session) -> int:
    """Gapless: the counter row is locked until commit and a rollback undoes the bump."""
    return session.execute(
        pg_insert(ReceiptCounter)
        .values(series=RECEIPT_SERIES, last_number=1)
        .on_conflict_do_update(index_elements=["series"], set_={"last_number": ReceiptCounter.last_number + 1})
        .returning(ReceiptCounter.last_number)
    ).scalar_one()


RECEIPT_NUMBER_SLOT = "[[COMPROBANTE]]"


def _finish_applied(session: Session, intent: PaymentIntent, now: datetime) -> StepResult:
    _move(intent, IntentState.APPLIED, now)
    intent.applied_at = now
    intent.step_deadline_at = None
    intent.failure_reason = None
    session.add(AuditEvent(member_id=intent.member_id, kind="payment_applied", payment_intent_id=intent.id,
                           detail={"total": str(intent.total_amount)}))
    session.flush()
    member = session.get(Member, intent.member_id)
    assert member is not None
    subject, body = receipt_email(session, intent, number_text=RECEIPT_NUMBER_SLOT)
    # Last: the global counter row stays locked until COMMIT and every payment waits on
    # it, so only the bump and one INSERT come after it (the e-mail was composed above).
    intent.receipt_number = next_receipt_number(session)
    number = format_receipt_number(intent.receipt_number)
    session.execute(
        pg_insert(OutboxMessage)
        .values(channel="email", recipient=member.email, subject=subject.replace(RECEIPT_NUMBER_SLOT, number)[:200],
                body=body.replace(RECEIPT_NUMBER_SLOT, number), dedupe_key=f"payment-receipt:{intent.id}")
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
    )
    session.flush()
    log.info("payment intent applied", extra={"intent_id": intent.id, "receipt_number": intent.receipt_number})
    return StepResult(intent.id, Outcome.APPLIED, intent.state)


# --- two-phase holds: for intents that wait on an outside party (PSE, later) ---------


def place_holds(
    session: Session, intent_id: int, *, now: datetime | None = None, settings: Settings | None = None
) -> StepResult:
    """created → funding: reserve each savings part as a pending hold (TigerBeetle's
    pending transfer). The balance does not move; the available balance does."""
    settings = settings or get_settings()
    now = now or utcnow()
    intent = _lock_expecting(session, intent_id, IntentState.CREATED)
    if isinstance(intent, StepResult):
        return intent
    locked = _lock_and_check(session, intent, today=bogota_date(now), settings=settings)
    if locked.failure_reason is not None:
        return _reject(session, intent, locked.failure_reason, now)
    _move(intent, IntentState.FUNDING, now)
    intent.step_deadline_at = now + timedelta(seconds=settings.intent_step_deadline_s)
    for attempt in intent.attempts:
        if attempt.kind is not AttemptKind.SAVINGS:
            continue
        account = locked.accounts[attempt.savings_account_id]  # type: ignore[index]
        attempt.gmf_amount = ZERO if account.gmf_exempt else gmf(attempt.amount)
        ensure_attempt_transition(attempt.state, AttemptState.HELD)
        attempt.state = AttemptState.HELD
        attempt.updated_at = now
        session.add(Hold(savings_account_id=account.id, attempt_id=attempt.id,
                         amount=attempt.amount + attempt.gmf_amount, state=HoldState.PENDING,
                         expires_at=now + timedelta(seconds=settings.hold_ttl_s)))
    session.flush()
    log.info("payment intent funds held", extra={"intent_id": intent.id})
    return StepResult(intent.id, Outcome.HELD, intent.state)


def mark_funded(session: Session, intent_id: int, *, now: datetime | None = None) -> StepResult:
    """funding → funded: every outside source answered yes (the PSE issue calls this when
    PSE says OK). Returns the settle step to enqueue after commit."""
    now = now or utcnow()
    intent = _lock_expecting(session, intent_id, IntentState.FUNDING)
    if isinstance(intent, StepResult):
        return intent
    _move(intent, IntentState.FUNDED, now)
    intent.step_deadline_at = now + timedelta(seconds=get_settings().intent_step_deadline_s)
    session.flush()
    return StepResult(intent.id, Outcome.NOTHING_TO_DO, intent.state, next_steps=("settle",))


def settle_intent(
    session: Session, intent_id: int, *, now: datetime | None = None, settings: Settings | None = None
) -> StepResult:
    """funded → applied: post the holds (the reserved money moves) and apply, in one
    transaction. The holds already passed the balance check when placed."""
    settings = settings or get_settings()
    now = now or utcnow()
    intent = _lock_expecting(session, intent_id, IntentState.FUNDED)
    if isinstance(intent, StepResult):
        return intent
    locked = _lock_and_check(session, intent, today=bogota_date(now), settings=settings)
    _move(intent, IntentState.APPLYING, now)
    if locked.failure_reason is not None and locked.failure_reason not in _HOLD_COVERED:
        # The money is reserved, but the obligation changed meanwhile (paid elsewhere):
        # nothing is applied in part, the holds are voided.
        return _fail(session, intent, locked.failure_reason, now)
    for hold in _holds_of(session, intent):
        ensure_hold_transition(hold.state, HoldState.POSTED)
        hold.state = HoldState.POSTED
        hold.resolved_at = now
    # The balance check is not repeated: the reservation is what guaranteed the money.
    _book(session, intent, locked, now)
    return _finish_applied(session, intent, now)


# Requirements a posted hold already guarantees (its own money was reserved) or that
# were decided at hold time; re-checking them at settle would fail paid-for payments.
_HOLD_COVERED = frozenset({REASON_INSUFFICIENT, REASON_TX_LIMIT, REASON_DAY_LIMIT})


def _holds_of(session: Session, intent: PaymentIntent) -> list[Hold]:
    attempt_ids = [a.id for a in intent.attempts]
    if not attempt_ids:
        return []
    return list(
        session.execute(
            select(Hold).where(Hold.attempt_id.in_(attempt_ids), Hold.state == HoldState.PENDING).order_by(Hold.id)
        ).scalars()
    )


def _void_holds(session: Session, intent: PaymentIntent, now: datetime) -> None:
    for hold in _holds_of(session, intent):
        ensure_hold_transition(hold.state, HoldState.VOIDED)
        hold.state = HoldState.VOIDED
        hold.resolved_at = now


def _fail(session: Session, intent: PaymentIntent, reason: str, now: datetime) -> StepResult:
    _move(intent, IntentState.FAILED, now)
    intent.failure_reason = reason[:200]
    intent.step_deadline_at = None
    for attempt in intent.attempts:
        if attempt.state is not AttemptState.HELD and not attempt.state.is_terminal():
            ensure_attempt_transition(attempt.state, AttemptState.FAILED)
            attempt.state = AttemptState.FAILED
            attempt.updated_at = now
    _void_held(session, intent, now)
    session.flush()
    log.warning("payment intent failed", extra={"intent_id": intent.id, "reason": reason})
    return StepResult(intent.id, Outcome.RELEASED, intent.state, reason)


def _void_held(session: Session, intent: PaymentIntent, now: datetime) -> None:
    """Void every held attempt and its pending hold: the reserved money is free again."""
    for attempt in intent.attempts:
        if attempt.state is AttemptState.HELD:
            ensure_attempt_transition(attempt.state, AttemptState.VOIDED)
            attempt.state = AttemptState.VOIDED
            attempt.updated_at = now
    _void_holds(session, intent, now)


def release_intent(
    session: Session, intent_id: int, reason: str, *, expired: bool = False, now: datetime | None = None
) -> StepResult:
    """funding → rejected/expired: the outside party said no (or never answered within
    the hold's TTL): void the holds, nothing moves."""
    now = now or utcnow()
    intent = _lock_expecting(session, intent_id, IntentState.FUNDING)
    if isinstance(intent, StepResult):
        return intent
    _move(intent, IntentState.EXPIRED if expired else IntentState.REJECTED, now)
    intent.failure_reason = reason[:200]
    intent.step_deadline_at = None
    _void_held(session, intent, now)
    session.flush()
    log.info("payment intent released", extra={"intent_id": intent.id, "reason": reason})
    return StepResult(intent.id, Outcome.RELEASED, intent.state, reason)


def expire_if_overdue(session: Session, intent_id: int, *, now: datetime | None = None) -> StepResult:
    """The reconciler's step for a `funding` intent: once its holds' TTL has passed
    without an answer, release them; before that, just push the deadline."""
    now = now or utcnow()
    expires = session.execute(
        select(func.min(Hold.expires_at))
        .join(FundingAttempt, FundingAttempt.id == Hold.attempt_id)
        .where(FundingAttempt.intent_id == intent_id, Hold.state == HoldState.PENDING)
    ).scalar_one_or_none()
    if expires is not None and expires <= now:
        return release_intent(session, intent_id, "Tiempo de espera del pago agotado", expired=True, now=now)
    return StepResult(intent_id, Outcome.NOTHING_TO_DO, None)


def has_external_funding(session: Session, intent_id: int) -> bool:
    return bool(
        session.execute(
            select(func.count()).select_from(FundingAttempt).where(
                FundingAttempt.intent_id == intent_id, FundingAttempt.kind == AttemptKind.PSE
            )
        ).scalar_one()
    )


def step_for(state: IntentState, *, external: bool) -> str | None:
    """Which step drives an intent found in `state` (used by enqueue and the reconciler)."""
    match state:
        case IntentState.CREATED:
            return "hold" if external else "apply"
        case IntentState.FUNDING:
            return "expire"
        case IntentState.FUNDED | IntentState.APPLYING:
            return "settle"
        case (IntentState.APPLIED | IntentState.REJECTED | IntentState.FAILED | IntentState.EXPIRED
              | IntentState.REVERSED):
            return None


__all__ = [
    "Outcome", "StepResult", "apply_intent", "expire_if_overdue", "lock_intent", "mark_funded",
    "next_receipt_number", "place_holds", "release_intent", "settle_intent", "step_for",
]
