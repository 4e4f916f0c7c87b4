"""The "Requisitos" table for a request, from the rows and the ledger.

`intents.requirements_table` advises (the wizard, `create_intent`); the worker calls `evaluate_locked`
with rows it has locked FOR UPDATE, so the same rules decide for real (DESIGN §4).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, time, timezone
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from domain.bogota_calendar import BOGOTA
from domain.payment_request import PaymentRequest
from domain.payment_states import HoldState, IntentState
from domain.requirements import AccountFacts, LimitFacts, LineFacts, Requirement, evaluate
from zona_privada.settings import Settings

from ..ledger import balances
from ..models import FundingAttempt, Hold, Obligation, ObligationStatus, PaymentIntent, PaymentIntentLine, SavingsAccount
from .errors import MSG_NOT_YOURS_ACCOUNT, MSG_NOT_YOURS_OBLIGATION, NotOwnedError
from .planning import ObligationPlan, obligation_plan

ZERO = Decimal("0.00")

# States that count as "a payment of this obligation in progress". When advising, any
# intent not yet finished does; under lock, only those waiting on an outside party
# (funds held): a CREATED sibling is simply applied after this one.
ADVISORY_IN_PROGRESS = (IntentState.CREATED, IntentState.FUNDING, IntentState.FUNDED, IntentState.APPLYING)
LOCKED_IN_PROGRESS = (IntentState.FUNDING, IntentState.FUNDED, IntentState.APPLYING)
NOT_COUNTED_TODAY = (IntentState.REJECTED, IntentState.FAILED, IntentState.EXPIRED, IntentState.REVERSED)


def account_label(account: SavingsAccount) -> str:
    return f"{account.product.value.capitalize()} {account.number}"


def owned_obligations(session: Session, member_id: int, ids: Iterable[int], *, lock: bool = False) -> dict[int, Obligation]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    query = (
        select(Obligation)
        .where(Obligation.id.in_(wanted), Obligation.member_id == member_id)
        .order_by(Obligation.id)
        .options(selectinload(Obligation.installments), selectinload(Obligation.loan))
    )
    if lock:
        # of=Obligation: lock only the obligation rows, in id order (DESIGN §4 rule 4).
        query = query.with_for_update(of=Obligation).execution_options(populate_existing=True)
    found = {o.id: o for o in session.execute(query).scalars()}
    if len(found) != len(wanted):
        raise NotOwnedError(MSG_NOT_YOURS_OBLIGATION)
    return found


def owned_accounts(session: Session, member_id: int, ids: Iterable[int], *, lock: bool = False) -> dict[int, SavingsAccount]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    query = (
        select(SavingsAccount)
        .where(SavingsAccount.id.in_(wanted), SavingsAccount.member_id == member_id)
        .order_by(SavingsAccount.id)
    )
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    found = {a.id: a for a in session.execute(query).scalars()}
    if len(found) != len(wanted):
        raise NotOwnedError(MSG_NOT_YOURS_ACCOUNT)
    return found


def pending_holds(session: Session, account_ids: Sequence[int], *, exclude_intent_id: int | None = None) -> dict[int, Decimal]:
    if not account_ids:
        return {}
    query = (
        select(Hold.savings_account_id, func.sum(Hold.amount))
        .where(Hold.savings_account_id.in_(account_ids), Hold.state == HoldState.PENDING)
        .group_by(Hold.savings_account_id)
    )
    if exclude_intent_id is not None:
        query = query.join(FundingAttempt, FundingAttempt.id == Hold.attempt_id).where(
            FundingAttempt.intent_id != exclude_intent_id
        )
    return {account_id: Decimal(total) for account_id, total in session.execute(query).all()}


def obligations_in_progress(
    session: Session, obligation_ids: Sequence[int], states: Sequence[IntentState], exclude_intent_id: int | None
) -> set[int]:
    if not obligation_ids:
        return set()
    query = (
        select(PaymentIntentLine.obligation_id)
        .join(PaymentIntent, PaymentIntent.id == PaymentIntentLine.intent_id)
        .where(PaymentIntentLine.obligation_id.in_(obligation_ids), PaymentIntent.state.in_(states))
        .distinct()
    )
    if exclude_intent_id is not None:
        query = query.where(PaymentIntent.id != exclude_intent_id)
    return {row for row in session.execute(query).scalars()}


def bogota_day_start_utc(today: date) -> datetime:
    return datetime.combine(today, time.min, tzinfo=BOGOTA).astimezone(timezone.utc)


def spent_today(session: Session, member_id: int, today: date, exclude_intent_id: int | None) -> Decimal:
    query = select(func.coalesce(func.sum(PaymentIntent.total_amount), 0)).where(
        PaymentIntent.member_id == member_id,
        PaymentIntent.created_at >= bogota_day_start_utc(today),
        PaymentIntent.state.not_in(NOT_COUNTED_TODAY),
    )
    if exclude_intent_id is not None:
        query = query.where(PaymentIntent.id != exclude_intent_id)
    return Decimal(session.execute(query).scalar_one())


def _account_facts(
    session: Session, request: PaymentRequest, accounts: Mapping[int, SavingsAccount], exclude_intent_id: int | None
) -> list[AccountFacts]:
    ids = sorted(accounts)
    by_ledger = balances(session, [accounts[i].ledger_account_id for i in ids])
    held = pending_holds(session, ids, exclude_intent_id=exclude_intent_id)
    debits = {f.savings_account_id: f.amount for f in request.funding if f.savings_account_id is not None}
    return [
        AccountFacts(
            account_id=i,
            label=account_label(accounts[i]),
            status=accounts[i].status.value,
            balance=by_ledger.get(accounts[i].ledger_account_id, ZERO),
            held=held.get(i, ZERO),
            minimum_balance=accounts[i].minimum_balance,
            gmf_exempt=accounts[i].gmf_exempt,
            debit=debits.get(i, ZERO),
        )
        for i in ids
    ]


def _line_facts(
    request: PaymentRequest,
    plans: Mapping[int, ObligationPlan],
    accounts: Mapping[int, SavingsAccount],
    in_progress: set[int],
) -> list[LineFacts]:
    facts: list[LineFacts] = []
    for line in request.lines:
        if line.obligation_id is not None:
            plan = plans[line.obligation_id]
            facts.append(
                LineFacts(
                    code_id=line.obligation_id,
                    label=plan.label,
                    amount=line.amount,
                    max_payable=plan.max_payable,
                    obligation_active=plan.obligation.status is ObligationStatus.ACTIVE,
                    in_progress=line.obligation_id in in_progress,
                )
            )
        else:
            assert line.target_savings_account_id is not None
            target = accounts[line.target_savings_account_id]
            facts.append(LineFacts(code_id=target.id, label=account_label(target), amount=line.amount, max_payable=None))
    return facts


def evaluate_rows(
    session: Session,
    member_id: int,
    request: PaymentRequest,
    obligations: Mapping[int, Obligation],
    accounts: Mapping[int, SavingsAccount],
    *,
    today: date,
    settings: Settings,
    in_progress_states: Sequence[IntentState],
    exclude_intent_id: int | None,
) -> tuple[tuple[Requirement, ...], dict[int, ObligationPlan]]:
    plans = {oid: obligation_plan(ob, today) for oid, ob in obligations.items()}
    in_progress = obligations_in_progress(session, sorted(obligations), in_progress_states, exclude_intent_id)
    limits = LimitFacts(
        total=request.total,
        max_per_transaction=settings.payment_max_per_transaction_cop,
        max_per_day=settings.payment_max_per_day_cop,
        spent_today=spent_today(session, member_id, today, exclude_intent_id),
    )
    rows = evaluate(
        _account_facts(session, request, accounts, exclude_intent_id),
        _line_facts(request, plans, accounts, in_progress),
        limits,
    )
    return rows, plans
