"""The "Requisitos" table for a request, from the rows and the ledger.

`intents.requirements_table` advises (the wizard, `create_intent`); the worker calls
`evaluate_rows` with the snapshots it loaded under FOR UPDATE locks, so the same rules
decide for real (DESIGN §4).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timezone
from decimal import Decimal
from typing import NamedTuple

from sqlalchemy import text
from sqlalchemy.orm import Session

from domain.bogota_calendar import BOGOTA
from domain.payment_request import PaymentRequest
from domain.payment_states import IntentState
from domain.payment_steps import HELD_STATES, NOT_COUNTED_STATES, OPEN_STATES, may_still_be_approved_sql
from domain.requirements import AccountFacts, LimitFacts, LineFacts, Requirement, evaluate
from zona_privada.settings import Settings

from ..models import ObligationStatus, PseState
from .gmf import gmf_by_account, request_gmf
from .planning import ObligationPlan, obligation_plan
from .snapshots import ObligationRow, SavingsRow

ZERO = Decimal("0.00")
# PSE transactions PSE may still decide: sent (or about to be), answer lost, pending.
PSE_UNDECIDED = (PseState.CREATED.value, PseState.SENT.value, PseState.UNKNOWN.value, PseState.PENDING.value)

# States that count as "a payment of this obligation in progress", from the step table.
# When advising, any intent not yet finished does; under lock, only those whose savings
# are held waiting on an outside party: a CREATED sibling is simply applied after this one.
ADVISORY_IN_PROGRESS = tuple(s for s in IntentState if s in OPEN_STATES)
LOCKED_IN_PROGRESS = tuple(s for s in IntentState if s in HELD_STATES)
NOT_COUNTED_TODAY = tuple(s for s in IntentState if s in NOT_COUNTED_STATES)


# The facts the member's other payments give, in one round trip: which of these
# obligations have a payment in progress, what was already spent today, and which have
# a PSE transaction PSE has not decided (blocked whatever its intent's state: an intent
# that expired waiting leaves its transaction pending at PSE), with its CUS.
_OTHER_PAYMENTS_SQL = text(f"""
    SELECT ARRAY(SELECT DISTINCT l.obligation_id
                 FROM payment_intent_lines l JOIN payment_intents p ON p.id = l.intent_id
                 WHERE l.obligation_id = ANY(:ids) AND p.state::text = ANY(:states)
                   AND p.id IS DISTINCT FROM :exclude),
           (SELECT coalesce(sum(total_amount), 0) FROM payment_intents
            WHERE member_id = :member_id AND created_at >= :since AND NOT (state::text = ANY(:not_counted))
              AND id IS DISTINCT FROM :exclude),
           ARRAY(SELECT l.obligation_id || ':' || coalesce(t.trazability_code, '')
                 FROM payment_intent_lines l
                 JOIN funding_attempts f ON f.intent_id = l.intent_id AND {may_still_be_approved_sql("f")}
                 JOIN pse_transactions t ON t.attempt_id = f.id
                 WHERE l.obligation_id = ANY(:ids) AND l.intent_id IS DISTINCT FROM :exclude
                   AND t.state IN ({", ".join(repr(s) for s in PSE_UNDECIDED)}))""")


class OtherPayments(NamedTuple):
    in_progress: set[int]
    spent_today: Decimal
    pse_pending: dict[int, str | None]  # obligation -> CUS (None before PSE gave one)


def bogota_day_start_utc(today: date) -> datetime:
    return datetime.combine(today, time.min, tzinfo=BOGOTA).astimezone(timezone.utc)


def other_payments(
    session: Session, member_id: int, obligation_ids: Sequence[int], states: Sequence[IntentState], *,
    today: date, exclude_intent_id: int | None,
) -> OtherPayments:
    """Obligations with a payment in one of `states`, total of today's payments that
    count against the daily limit, obligations with an undecided PSE transaction; all
    leaving out `exclude_intent_id`."""
    in_progress, spent, pse = session.execute(_OTHER_PAYMENTS_SQL, {
        "ids": list(obligation_ids), "states": [s.value for s in states], "exclude": exclude_intent_id,
        "member_id": member_id, "since": bogota_day_start_utc(today),
        "not_counted": [s.value for s in NOT_COUNTED_TODAY],
    }).one()
    pending: dict[int, str | None] = {}
    for item in pse:
        obligation_id, _, cus = item.partition(":")
        pending[int(obligation_id)] = pending.get(int(obligation_id)) or cus or None
    return OtherPayments(set(in_progress), Decimal(spent), pending)


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
    others: OtherPayments,
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
                    in_progress=line.obligation_id in others.in_progress,
                    pse_pending=line.obligation_id in others.pse_pending,
                    pse_cus=others.pse_pending.get(line.obligation_id),
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
    others = other_payments(session, member_id, sorted(obligations), in_progress_states, today=today,
                            exclude_intent_id=exclude_intent_id)
    limits = LimitFacts(
        total=request.total,
        max_per_transaction=settings.payment_max_per_transaction_cop,
        max_per_day=settings.payment_max_per_day_cop,
        spent_today=others.spent_today,
    )
    rows = evaluate(
        _account_facts(request, accounts, gmf_by_account(request, gmf_taxes)),
        _line_facts(request, plans, accounts, others),
        limits,
    )
    return rows, plans
