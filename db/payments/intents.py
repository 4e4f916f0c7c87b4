"""Writing a payment intent (the "Finalizar" of the wizard) and reading its status.

`create_intent` writes the intent, its lines and its funding attempts in the caller's
transaction, keyed by the form's idempotency key with a hash of the body (DESIGN §4 rule
5): a replay returns the same intent, the same key with another body is refused, and of
concurrent identical creates one inserts and the others re-read the winner.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import NamedTuple

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from domain.bogota_calendar import bogota_date
from domain.payment_request import (
    FundingRequest,
    LineRequest,
    PaymentInputError,
    PaymentRequest,
    check_idempotency_key,
    normalize_request,
    request_hash,
)
from domain.payment_states import AttemptKind, AttemptState, IntentState
from domain.payment_steps import Step, first_step
from domain.requirements import Requirement, all_met
from zona_privada.settings import Settings, get_settings

from ..models import Allocation, IntentKind, PaymentIntent, PseState
from ..pse_banks import bank_name as pse_bank_name
from .gmf import request_gmf
from .errors import MSG_NOT_YOURS_INTENT, MSG_UNKNOWN_BANK, IdempotencyConflict, NotOwnedError, RequirementsNotMet
from .planning import obligation_label, obligation_plan, overdue_total, split_amount
from .requirements import ADVISORY_IN_PROGRESS, evaluate_rows
from .snapshots import SavingsRow, active_obligation_ids, load_accounts, load_obligations

ZERO = Decimal("0.00")

def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def build_request(
    *,
    kind: str | IntentKind,
    lines: Iterable[LineRequest | Mapping[str, object]],
    funding: Iterable[FundingRequest | Mapping[str, object]],
    prepayment_mode: object = None,
) -> PaymentRequest:
    """Normalize what the form sent; raises PaymentInputError with a Spanish message."""
    return normalize_request(str(kind.value if isinstance(kind, IntentKind) else kind), lines, funding, prepayment_mode)


def requirements_table(
    session: Session,
    member_id: int,
    request: PaymentRequest,
    *,
    today: date | None = None,
    settings: Settings | None = None,
) -> tuple[Requirement, ...]:
    """The wizard's step 4. Raises NotOwnedError for another member's ids."""
    settings = settings or get_settings()
    today = today or bogota_date(utcnow())
    obligations = load_obligations(session, member_id, request.obligation_ids)
    accounts = load_accounts(session, member_id, request.source_account_ids + request.target_account_ids, today=today)
    taxes = request_gmf(request, accounts, today=today)
    rows, _plans = evaluate_rows(
        session, member_id, request, obligations, accounts, today=today, settings=settings,
        in_progress_states=ADVISORY_IN_PROGRESS, exclude_intent_id=None, gmf_taxes=taxes,
    )
    return rows


_EXISTING_SQL = text("SELECT id, request_hash FROM payment_intents WHERE member_id = :member_id AND idempotency_key = :key")


def _existing(session: Session, member_id: int, key: str) -> tuple[int, str] | None:
    row = session.execute(_EXISTING_SQL, {"member_id": member_id, "key": key}).first()
    return (row[0], row[1]) if row else None


class PseContext(NamedTuple):
    """What the web knows about a PSE payment that the form does not carry: the payer's
    IP (a reference ACH asks for, shown on the receipt) and where the bank sends the
    member back (`entityurl`: this prefix followed by the ticketId)."""

    payer_ip: str
    return_url_prefix: str


class NewIntent(NamedTuple):
    """What `create_intent` gives the web: the intent and, when this call created it, the
    step to enqueue after commit (from the step table); None for a replay of an intent
    that already exists (its steps are running or done, nothing to enqueue)."""

    intent_id: int
    first_step: Step | None


def _same_or_conflict(found: tuple[int, str], body_hash: str) -> NewIntent:
    intent_id, stored_hash = found
    if stored_hash != body_hash:
        raise IdempotencyConflict()
    return NewIntent(intent_id, None)


def create_intent(
    session: Session,
    *,
    member_id: int,
    idempotency_key: str,
    kind: str | IntentKind,
    lines: Iterable[LineRequest | Mapping[str, object]],
    funding: Iterable[FundingRequest | Mapping[str, object]],
    prepayment_mode: object = None,
    today: date | None = None,
    settings: Settings | None = None,
    pse: PseContext | None = None,
) -> NewIntent:
    """Write the intent in the caller's transaction; returns (intent_id, first_step),
    first_step None when the key found an existing intent.

    A request with a PSE source also writes its PSE attempt and its `pse_transactions`
    row with the ticketId, before anything is sent (DESIGN §5); `pse` is then required.

    Raises PaymentInputError (bad shape or amount), NotOwnedError (another member's
    ids), RequirementsNotMet (the table says no), IdempotencyConflict (key reused with
    another body). The caller commits, then enqueues first_step
    (`workers.payment_tasks.enqueue_intent`).
    """
    settings = settings or get_settings()
    key = check_idempotency_key(idempotency_key)
    request = build_request(kind=kind, lines=lines, funding=funding, prepayment_mode=prepayment_mode)
    body_hash = request_hash(request)
    found = _existing(session, member_id, key)
    if found is not None:
        return _same_or_conflict(found, body_hash)

    now = utcnow()
    today = today or bogota_date(now)
    pse_source = request.pse_source
    bank_name = None
    if pse_source is not None:
        if pse is None:
            raise ValueError("a PSE payment needs the payer's IP and the return URL")
        bank_name = pse_bank_name(session, pse_source.bank_code or "")
        if bank_name is None:
            raise PaymentInputError(MSG_UNKNOWN_BANK)
    obligations = load_obligations(session, member_id, request.obligation_ids)
    accounts = load_accounts(session, member_id, request.source_account_ids + request.target_account_ids, today=today)
    taxes = request_gmf(request, accounts, today=today)
    rows, _plans = evaluate_rows(
        session, member_id, request, obligations, accounts, today=today, settings=settings,
        in_progress_states=ADVISORY_IN_PROGRESS, exclude_intent_id=None, gmf_taxes=taxes,
    )
    if not all_met(rows):
        # A concurrent identical create may have committed while we checked (its intent
        # then shows as "in progress"): a replay must get that intent, not an error.
        winner = _existing(session, member_id, key)
        if winner is not None:
            return _same_or_conflict(winner, body_hash)
        raise RequirementsNotMet(rows)

    intent_id = session.execute(_INSERT_INTENT_SQL, _insert_params(
        member_id, key, body_hash, request, accounts, taxes,
        deadline=now + timedelta(seconds=settings.intent_step_deadline_s), pse=pse, bank_name=bank_name,
    )).scalar_one_or_none()
    if intent_id is None:
        # A concurrent create with the same key committed first: re-read the winner.
        winner = _existing(session, member_id, key)
        assert winner is not None, "the conflicting intent must be visible once its transaction committed"
        return _same_or_conflict(winner, body_hash)
    return NewIntent(intent_id, first_step(external=request.uses_pse))


# The intent, its lines and its funding attempts in one statement (one round trip on the
# web's hot path). When another create holds the key, the intent inserts nothing and the
# lines and attempts, joined to it, nothing either. Lines and attempts are inserted in
# the normalized request's order (WITH ORDINALITY), so their ids keep it.
_INSERT_INTENT_SQL = text(f"""
    WITH intent AS (
        INSERT INTO payment_intents (member_id, kind, state, idempotency_key, request_hash, total_amount,
                                     step_deadline_at)
        VALUES (:member_id, :kind, '{IntentState.CREATED.value}', :key, :hash, :total, :deadline)
        ON CONFLICT ON CONSTRAINT uq_payment_intents_member_key DO NOTHING
        RETURNING id
    ), new_lines AS (
        INSERT INTO payment_intent_lines (intent_id, obligation_id, target_savings_account_id, amount, prepayment_mode)
        SELECT intent.id, l.obligation_id, l.target_id, l.amount, l.mode
        FROM intent, unnest(CAST(:line_obligations AS bigint[]), CAST(:line_targets AS bigint[]),
                            CAST(:line_amounts AS numeric[]), CAST(:line_modes AS text[]))
                     WITH ORDINALITY AS l(obligation_id, target_id, amount, mode, n)
        ORDER BY l.n
    ), new_attempts AS (
        INSERT INTO funding_attempts (intent_id, kind, state, savings_account_id, amount, gmf_amount)
        SELECT intent.id, '{AttemptKind.SAVINGS.value}', '{AttemptState.PENDING.value}', a.account_id, a.amount, a.gmf
        FROM intent, unnest(CAST(:attempt_accounts AS bigint[]), CAST(:attempt_amounts AS numeric[]),
                            CAST(:attempt_gmf AS numeric[]))
                     WITH ORDINALITY AS a(account_id, amount, gmf, n)
        ORDER BY a.n
    ), pse_attempt AS (
        INSERT INTO funding_attempts (intent_id, kind, state, savings_account_id, amount, gmf_amount)
        SELECT intent.id, '{AttemptKind.PSE.value}', '{AttemptState.PENDING.value}', NULL, p.amount, 0
        FROM intent, unnest(CAST(:pse_amounts AS numeric[])) AS p(amount)
        RETURNING id, amount
    ), pse_tx AS (
        -- The ticketId is the row's own id, drawn here: stored in this transaction, before
        -- the worker sends anything (DESIGN §5).
        INSERT INTO pse_transactions (id, attempt_id, ticket_id, bank_code, bank_name, user_type, amount,
                                      entity_url, payer_ip, state)
        SELECT t.n, a.id, t.n::text, :pse_bank, :pse_bank_name, :pse_user_type, a.amount,
               :pse_return_prefix || t.n::text, :pse_payer_ip, '{PseState.CREATED.value}'
        FROM pse_attempt a, LATERAL (SELECT nextval('pse_transactions_id_seq') AS n) t
    )
    SELECT id FROM intent""")


def _insert_params(
    member_id: int, key: str, body_hash: str, request: PaymentRequest, accounts: Mapping[int, SavingsRow],
    taxes: Sequence[Decimal], *, deadline: datetime, pse: PseContext | None, bank_name: str | None,
) -> dict[str, object]:
    sources = []
    savings_taxes = []
    for source, tax in zip(request.funding, taxes, strict=True):
        if source.pse:
            continue
        assert source.savings_account_id is not None
        sources.append((accounts[source.savings_account_id], source.amount))
        savings_taxes.append(tax)
    pse_source = request.pse_source
    return {
        "member_id": member_id, "kind": request.kind, "key": key, "hash": body_hash, "total": request.total,
        "deadline": deadline,
        "line_obligations": [line.obligation_id for line in request.lines],
        "line_targets": [line.target_savings_account_id for line in request.lines],
        "line_amounts": [line.amount for line in request.lines],
        "line_modes": [line.prepayment_mode.value if line.prepayment_mode else None for line in request.lines],
        "attempt_accounts": [account.id for account, _ in sources],
        "attempt_amounts": [amount for _, amount in sources],
        "attempt_gmf": savings_taxes,  # request_gmf: one per source, in order
        "pse_amounts": [pse_source.amount] if pse_source else [],
        "pse_bank": pse_source.bank_code if pse_source else None,
        "pse_bank_name": bank_name,
        "pse_user_type": pse_source.user_type if pse_source else None,
        "pse_return_prefix": pse.return_url_prefix if pse else "",
        "pse_payer_ip": pse.payer_ip[:45] if pse else None,
    }


def overdue_lines(session: Session, member_id: int, *, today: date | None = None) -> list[LineRequest]:
    """"Pagar obligaciones vencidas por ventanilla": one line per obligation with
    something overdue, for its overdue total."""
    today = today or bogota_date(utcnow())
    obligations = load_obligations(session, member_id, active_obligation_ids(session, member_id))
    lines = []
    for obligation in obligations.values():
        total = overdue_total(obligation, today)
        if total > 0:
            lines.append(LineRequest(amount=total, obligation_id=obligation.id))
    return lines


def preview_allocation(
    session: Session,
    member_id: int,
    request: PaymentRequest,
    *,
    today: date | None = None,
) -> dict[str, object]:
    """The Verificación step: total to pay today, GMF per source and, per obligation, how
    the money would be split (late interest, fees, interest, principal; prepayment)."""
    today = today or bogota_date(utcnow())
    obligations = load_obligations(session, member_id, request.obligation_ids)
    accounts = load_accounts(session, member_id, request.source_account_ids + request.target_account_ids, today=today)
    lines_out: list[dict[str, object]] = []
    for line in request.lines:
        if line.obligation_id is None:
            assert line.target_savings_account_id is not None
            target = accounts[line.target_savings_account_id]
            lines_out.append({"target_savings_account_id": target.id, "label": target.label,
                              "amount": str(line.amount), "allocation": [], "prepayment": "0.00"})
            continue
        obligation = obligations[line.obligation_id]
        plan = obligation_plan(obligation, today)
        if line.amount > plan.max_payable:
            raise PaymentInputError(f"El valor supera lo adeudado en {obligation_label(obligation)}")
        split = split_amount(plan, line.amount)
        numbers = {i.id: (i.number, i.due_date) for i in plan.due_installments}
        lines_out.append({
            "obligation_id": obligation.id,
            "label": obligation_label(obligation),
            "amount": str(line.amount),
            "prepayment": str(split.prepayment),
            "prepayment_mode": line.prepayment_mode.value if line.prepayment_mode and split.prepayment else None,
            "allocation": [
                {
                    "installment_number": numbers[row.installment_id][0],
                    "due_date": numbers[row.installment_id][1].isoformat(),
                    "late_interest": str(row.late_interest),
                    "fees": str(row.fees),
                    "interest": str(row.interest),
                    "principal": str(row.principal),
                    "total": str(row.total),
                }
                for row in split.rows
            ],
        })
    funding_out = []
    total_gmf = ZERO
    for source, tax in zip(request.funding, request_gmf(request, accounts, today=today), strict=True):
        if source.pse:
            # The PSE part: debited at the member's bank, no GMF here (the bank charges its own).
            name = pse_bank_name(session, source.bank_code or "") or source.bank_code
            funding_out.append({"pse": True, "bank_code": source.bank_code, "bank_name": name,
                                "user_type": source.user_type, "label": f"PSE - {name}",
                                "amount": str(source.amount), "gmf": "0.00", "debit": str(source.amount)})
            continue
        assert source.savings_account_id is not None
        account = accounts[source.savings_account_id]
        total_gmf += tax
        funding_out.append({"pse": False, "savings_account_id": account.id, "label": account.label,
                            "amount": str(source.amount), "gmf": str(tax), "debit": str(source.amount + tax)})
    return {
        "kind": request.kind,
        "total": str(request.total),
        "gmf": str(total_gmf),
        "total_a_pagar_hoy": str(request.total + total_gmf),
        # What leaves the member's savings at the cooperative (amount + GMF): the part a
        # one-time code protects; the PSE part is authorised at the member's bank.
        "savings_debit": str(sum((Decimal(f["debit"]) for f in funding_out if not f["pse"]), ZERO)),
        "pse_amount": str(request.pse_source.amount if request.pse_source else ZERO),
        "lines": lines_out,
        "funding": funding_out,
    }


def load_owned_intent(session: Session, member_id: int, intent_id: int) -> PaymentIntent:
    intent = session.execute(
        select(PaymentIntent).where(PaymentIntent.id == intent_id, PaymentIntent.member_id == member_id)
    ).scalar_one_or_none()
    if intent is None:
        raise NotOwnedError(MSG_NOT_YOURS_INTENT)
    return intent


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def allocation_rows(session: Session, intent_id: int) -> list[dict[str, object]]:
    from ..models import Installment

    rows = session.execute(
        select(Allocation, Installment.number, Installment.due_date)
        .outerjoin(Installment, Installment.id == Allocation.installment_id)
        .where(Allocation.intent_id == intent_id)
        .order_by(Allocation.id)
    ).all()
    return [
        {
            "obligation_id": a.obligation_id,
            "line_id": a.line_id,
            "installment_number": number,
            "due_date": due.isoformat() if due else None,
            "late_interest": str(a.late_interest),
            "fees": str(a.fees),
            "interest": str(a.interest),
            "principal": str(a.principal),
            "is_prepayment": a.is_prepayment,
        }
        for a, number, due in rows
    ]


_PSE_PARTS_SQL = text("""
    SELECT f.intent_id, t.ticket_id, t.bank_code, t.bank_name, t.amount, t.trazability_code, t.state
    FROM pse_transactions t JOIN funding_attempts f ON f.id = t.attempt_id
    WHERE f.intent_id = ANY(:ids) ORDER BY t.id""")


def pse_parts(session: Session, intent_ids: Sequence[int]) -> dict[int, dict[str, object]]:
    """The PSE part of each intent that has one (JSON-able): bank, amount, CUS, PSE's state,
    for the status page, the receipt and the history."""
    if not intent_ids:
        return {}
    return {
        row.intent_id: {"ticket_id": row.ticket_id, "bank_code": row.bank_code,
                        "bank_name": row.bank_name or row.bank_code, "amount": str(row.amount),
                        "cus": row.trazability_code, "state": row.state}
        for row in session.execute(_PSE_PARTS_SQL, {"ids": list(intent_ids)})
    }


def intent_status(
    session: Session, member_id: int, intent_id: int, *, settings: Settings | None = None
) -> dict[str, object]:
    """What the status page polls every second (JSON-able)."""
    settings = settings or get_settings()
    intent = load_owned_intent(session, member_id, intent_id)
    promise_at = intent.created_at + timedelta(seconds=settings.payment_promise_s)
    return {
        "intent_id": intent.id,
        "kind": intent.kind.value,
        "state": intent.state.value,
        "terminal": intent.state.is_terminal(),
        "total_amount": str(intent.total_amount),
        "created_at": _iso(intent.created_at),
        "state_changed_at": _iso(intent.state_changed_at),
        "applied_at": _iso(intent.applied_at),
        "promise_deadline_at": _iso(promise_at),
        "failure_reason": intent.failure_reason,
        "receipt_number": intent.receipt_number,
        "allocation": allocation_rows(session, intent.id),
        "pse": pse_parts(session, [intent.id]).get(intent.id),
        "funding": [
            {"savings_account_id": a.savings_account_id, "kind": a.kind.value, "state": a.state.value,
             "amount": str(a.amount), "gmf": str(a.gmf_amount)}
            for a in intent.attempts
        ],
    }
