"""The "Requisitos" table for a request, from the rows and the ledger.

`intents.requirements_table` advises (the wizard, `create_intent`); the worker calls
`evaluate_rows` with the snapshots it loaded under FOR UPDATE locks, so the same rules
decide for real (DESIGN §4).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timezone
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.orm import Session

from domain.bogota_calendar import BOGOTA
from domain.payment_request import PaymentRequest
from domain.payment_states import IntentState
from domain.payment_steps import HELD_STATES, NOT_COUNTED_STATES, OPEN_STATES
from domain.requirements import AccountFacts, LimitFacts, LineFacts, Requirement, evaluate
from zona_privada.settings import Settings

from ..models import ObligationStatus
from .gmf import gmf_by_account, request_gmf
from .planning import ObligationPlan, obligation_plan
from .snapshots import ObligationRow, SavingsRow

ZERO = Decimal("0.00")

# States that count as "a payment of this obligation in progress", from the step table.
# When advising, any intent not yet finished does; under lock, only those whose savings
# are held waiting on an outside party: a CREATED sibling is simply applied after this one.
ADVISORY_IN_PROGRESS = tuple(s for s in IntentState if s in OPEN_STATES)
LOCKED_IN_PROGRESS = tuple(s for s in IntentState if s in HELD_STATES)
NOT_COUNTED_TODAY = tuple(s for s in IntentState if s in NOT_COUNTED_STATES)


# Both facts the member's other payments give, in one round trip: which of these
# obligations have a payment in progress, and what was already spent today.
_OTHER_PAYMENTS_SQL = text("""
    SELECT ARRAY(SELECT DISTINCT l.obligation_id
                 FROM payment_intent_lines l JOIN payment_intents p ON p.id = l.intent_id
                 WHERE l.obligation_id = ANY(:ids) AND p.state::text = ANY(:states)
                   AND p.id IS DISTINCT FROM :exclude),
           (SELECT coalesce(sum(total_amount), 0) FROM payment_intents
            WHERE member_id = :member_id AND created_at >= :since AND NOT (state::text = ANY(:not_counted))
              AND id IS DISTINCT FROM :exclude)""")


def bogota_day_start_utc(today: date) -> datetime:
    return datetime.combine(today, time.min, tzinfo=BOGOTA).astimezone(timezone.utc)


def other_payments(
    session: Session, member_id: int, obligation_ids: Sequence[int], states: Sequence[IntentState], *,
    today: date, exclude_intent_id: int | None,
) -> tuple[set[int], Decimal]:
    """(obligations with a payment in one of `states`, total of today's payments that
    count against the daily limit), both leaving out `exclude_intent_id`."""
    in_progress, spent = session.execute(_OTHER_PAYMENTS_SQL, {
        "ids": list(obligation_ids), "states": [s.value for s in states], "exclude": exclude_intent_id,
        "member_id": member_id, "since": bogota_day_start_utc(today),
        "not_counted": [s.value for s in NOT_COUNTED_TODAY],
    }).one()
    return set(in_progress), Decimal(spent)


def _account_facts(request: PaymentRequest, accounts: Mapping[int, SavingsRow],
                   taxes: Mapping[int, Decimal]) -> list[AccountFacts]:
    debits = {f.savings_account_id: f.amount for f in request.funding if f.savings_account_id is not None}
    return [
        AccountFacts(
            account_id=i,
            label=accounts[i].label,
            status=accounts[i].status.value,
            balance=accounts[i].balance,
            held=accounts[i].held,
            minimum_balance=accounts[i].minimum_balance,
            gmf_exempt=accounts[i].gmf_exempt,
            debit=debits.get(i, ZERO),
            gmf_due=taxes.get(i, ZERO),
        )
        for i in sorted(accounts)
    ]


def _line_facts(
    request: PaymentRequest,
    plans: Mapping[int, ObligationPlan],
    accounts: Mapping[int, SavingsRow],
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
            facts.append(LineFacts(code_id=target.id, label=target.label, amount=line.amount, max_payable=None))
    return facts


def evaluate_rows(
    session: Session,
    member_id: int,
    request: PaymentRequest,
    obligations: Mapping[int, ObligationRow],
    accounts: Mapping[int, SavingsRow],
    *,
    today: date,
    settings: Settings,
    in_progress_states: Sequence[IntentState],
    exclude_intent_id: int | None,
    gmf_taxes: Sequence[Decimal] | None = None,
) -> tuple[tuple[Requirement, ...], dict[int, ObligationPlan]]:
    """The table and each obligation's plan. `accounts` must have been loaded with the
    same `exclude_intent_id` (their holds are part of the facts). `gmf_taxes`, per funding
    source, when the caller already asked `request_gmf` (it posts the same figures)."""
    if gmf_taxes is None:
        gmf_taxes = request_gmf(request, accounts, today=today)
    plans = {oid: obligation_plan(ob, today) for oid, ob in obligations.items()}
    in_progress, spent = other_payments(session, member_id, sorted(obligations), in_progress_states, today=today,
                                        exclude_intent_id=exclude_intent_id)
    limits = LimitFacts(
        total=request.total,
        max_per_transaction=settings.payment_max_per_transaction_cop,
        max_per_day=settings.payment_max_per_day_cop,
        spent_today=spent,
    )
    rows = evaluate(
        _account_facts(request, accounts, gmf_by_account(request, gmf_taxes)),
        _line_facts(request, plans, accounts, in_progress),
        limits,
    )
    return rows, plans
