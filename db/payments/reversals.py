"""Operator money decisions (issue 12): reversing an applied payment and refunding money
to a member's savings. The console calls these only after four-eyes approval; who asked,
who approved, why and from where come in as arguments and are written into the journal
descriptions and an audit row, in the same transaction as the money.

Reversal is compensation, never an edit (DESIGN §3): each of the payment's journal
entries gets a NEW entry with its sides swapped and `reversal_of_id` pointing at it; the
installments give back exactly what the payment's allocation rows say each one got; the
intent moves applied → reversed (domain.payment_states.OPERATOR_TRANSITIONS).

Money PSE brought in cannot be pushed back through PSE (ACH's PSE has no refund
operation for a finished debit; a refund to the payer's bank is an off-line transfer the
treasury makes by hand). So the cooperative does what it already does with approvals it
cannot apply (db/payments/late_approvals.py): the reversal gives the PSE part back to the
member's Rentadiario (Rentahorrito when there is none), in a second entry against the
bank account ACH paid into. The member can then withdraw it at the office or pay with it.

GMF (4×1000) charged on the savings debit is given back with it: the reversing entry
mirrors the payment's, GMF payable included, since a debit annulled before the tax is
remitted leaves no taxable movement (the treasury nets it in the period's return).

Lock order is processing.py's: the intent row, then savings accounts by id, then
obligations by id; so a reversal and a new payment on the same obligation serialize on
the obligation lock and neither deadlocks: whichever comes second sees the other's result
(a payment after the reversal pays the restored installments; a reversal after a later
payment refuses, ReversalImpossible).
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.orm import Session

from domain.allocation import ALLOCATION_ORDER, PAID_PREFIX
from domain.bogota_calendar import bogota_date
from domain.money import format_cop, to_money
from domain.payment_states import OPERATOR_TRANSITIONS, AttemptKind, AttemptState, IntentState

from .. import chart, outbox
from ..ledger import credit, debit, post_entry
from ..models import IntentKind, ObligationStatus, ReviewState, SavingsProduct, SavingsStatus
from .errors import PaymentError
from .intents import utcnow
from .snapshots import IntentRow, lock_intent

log = logging.getLogger(__name__)
ZERO = Decimal("0.00")

# Journal entry kinds (journal_entries.kind, String(30)).
KIND_REVERSAL = "reversal"
KIND_REVERSAL_PSE_REFUND = "reversal_pse_refund"
KIND_OPERATOR_REFUND = "operator_refund"
# Audit kinds (audit_events.kind).
AUDIT_REVERSED = "payment_reversed"
AUDIT_REFUNDED = "operator_refund"

MSG_NO_INTENT = "El pago indicado no existe"
MSG_NO_MEMBER = "El asociado indicado no existe"
MSG_NOT_APPLIED = "Solo se puede reversar un pago aplicado; este pago está en estado «{state}»"
MSG_ALREADY_REVERSED = "El pago No. {id} ya estaba reversado; no se hizo ningún cambio"
MSG_REVERSED = "Pago No. {id} reversado: {total} devueltos a las obligaciones y cuentas de origen"
MSG_LATER_PAYMENT = ("No se puede reversar el pago No. {id}: después se aplicó el pago No. {later} a la misma "
                     "obligación ({obligation}); reverse primero ese pago o registre un reintegro")
MSG_PREPAYMENT = ("No se puede reversar el pago No. {id}: incluyó un abono a capital que recalculó el plan de "
                  "pagos del crédito {obligation} (Ley 1555), y ese plan no se puede restaurar con exactitud")
MSG_EARLY_LOAN = ("No se puede reversar el pago No. {id}: pagó capital del crédito {obligation} antes del "
                  "vencimiento de la cuota y el interés del periodo se recalculó (Ley 1555); registre un reintegro")
MSG_INSTALLMENT_GONE = ("No se puede reversar el pago No. {id}: una cuota que pagó ya no existe o ya no tiene "
                        "lo que el pago le abonó")
MSG_TRANSFER_SPENT = ("No se puede reversar la transferencia No. {id}: la cuenta {account} ya no tiene disponible "
                      "lo que recibió")
MSG_NO_SAVINGS = ("El asociado no tiene una cuenta de ahorros activa donde devolver lo pagado por PSE; "
                  "abra una cuenta Rentadiario antes de reversar")
MSG_BAD_AMOUNT = "El valor del reintegro debe ser mayor que cero y en pesos con máximo dos decimales"
MSG_NEEDS_TARGET = "Indique el pago o el asociado al que se hace el reintegro (solo uno de los dos)"
MSG_MISSING_ACTOR = "Falta quién solicitó, quién aprobó o el motivo"
MSG_SAME_ACTOR = "Quien aprueba no puede ser quien solicitó (doble control)"
MSG_NO_KEY = "Falta la llave de la solicitud del reintegro"
MSG_KEY_OTHER = "Esta solicitud de reintegro ya se registró con otros datos; no se hizo ningún cambio"
MSG_REFUNDED = "Reintegro de {amount} a la cuenta {account}"
MSG_ALREADY_REFUNDED = "Este reintegro ya se había registrado ({amount} a la cuenta {account}); no se hizo ningún cambio"
MSG_REVIEW_NOT_INTENT = "El caso de revisión indicado no es de este pago"


class ReversalError(PaymentError):
    """Base of the operator money errors: `message` is Spanish, shown to the operator as
    is; nothing was changed (the caller rolls the transaction back)."""


class IntentNotFound(ReversalError):
    http_status = 404


class IntentNotReversible(ReversalError):
    """The intent is not applied (created, funding, rejected, ...)."""

    http_status = 409


class ReversalImpossible(ReversalError):
    """An exact restore is impossible: the obligations changed after the payment."""

    http_status = 409


class InvalidOperatorRequest(ReversalError):
    """Who requested, who approved or why is missing, or one person did both."""


class RefundRejected(InvalidOperatorRequest):
    """Bad refund input, or the same request key with other data."""


@dataclass(frozen=True, slots=True)
class ReversalResult:
    intent_id: int
    # False when the intent was already reversed: this call changed nothing.
    reversed_now: bool
    state: IntentState
    # The new entries (reversing ones first, then the PSE part to savings); empty on a no-op.
    reversal_entry_ids: tuple[int, ...]
    # What went back to savings accounts (debited ones, and the PSE part), by savings
    # account id; negative for a transfer's target account giving back what it received.
    credited_to_savings: dict[int, Decimal]
    message: str


@dataclass(frozen=True, slots=True)
class RefundResult:
    request_key: str
    # False when this request key was already refunded: this call changed nothing.
    refunded_now: bool
    member_id: int
    savings_account_id: int
    amount: Decimal
    journal_entry_id: int
    message: str


# ---------------------------------------------------------------- reversal


def reverse_applied_intent(
    session: Session, intent_id: int, *, requested_by: str, approved_by: str, reason: str, ip: str,
    now: datetime | None = None,
) -> ReversalResult:
    """Reverse an APPLIED intent in the caller's transaction (see the module docstring).

    Idempotent: an intent already reversed returns `reversed_now=False` and changes
    nothing. Raises IntentNotFound, IntentNotReversible or ReversalImpossible (Spanish
    `message`) having written nothing."""
    _check_actors(requested_by, approved_by, reason)
    now = now or utcnow()
    intent = lock_intent(session, intent_id)
    if intent is None:
        raise IntentNotFound(MSG_NO_INTENT)
    if intent.state is IntentState.REVERSED:
        return ReversalResult(intent.id, False, IntentState.REVERSED, (), {},
                              MSG_ALREADY_REVERSED.format(id=intent.id))
    if (intent.state, IntentState.REVERSED) not in OPERATOR_TRANSITIONS:
        raise IntentNotReversible(MSG_NOT_APPLIED.format(state=intent.state.value))

    pse_amount = sum((a.amount for a in intent.attempts
                      if a.kind is AttemptKind.PSE and a.state is AttemptState.POSTED), ZERO)
    refund_account = _refund_account(session, intent.member_id) if pse_amount > 0 else None
    if pse_amount > 0 and refund_account is None:
        raise ReversalImpossible(MSG_NO_SAVINGS)
    # Lock order: savings accounts by id (sources, transfer targets, the refund account),
    # then obligations by id.
    account_ids = {a.savings_account_id for a in intent.attempts
                   if a.kind is AttemptKind.SAVINGS and a.state is AttemptState.POSTED}
    account_ids |= {line.target_savings_account_id for line in intent.lines if line.target_savings_account_id}
    if refund_account is not None:
        account_ids.add(refund_account[0])
    session.execute(_LOCK_ACCOUNTS_SQL, {"ids": sorted(a for a in account_ids if a is not None)}).all()
    obligation_ids = sorted({line.obligation_id for line in intent.lines if line.obligation_id is not None})
    session.execute(_LOCK_OBLIGATIONS_SQL, {"ids": obligation_ids}).all()

    allocations = session.execute(_ALLOCATIONS_SQL, {"intent_id": intent.id}).mappings().all()
    _refuse_unless_exact(session, intent, allocations, now)

    entries = session.execute(_ENTRIES_TO_REVERSE_SQL, {"intent_id": intent.id}).all()
    who = f"solicitó {requested_by}, aprobó {approved_by}"
    entry_ids: list[int] = []
    credited: dict[int, Decimal] = {}
    for entry_id, _kind in entries:
        entry_ids.append(_reverse_entry(session, intent.id, entry_id,
                                        f"Reversión del pago Zona Privada No. {intent.id} ({who}): {reason}"))
    for a in intent.attempts:
        if a.kind is AttemptKind.SAVINGS and a.state is AttemptState.POSTED and a.savings_account_id is not None:
            credited[a.savings_account_id] = credited.get(a.savings_account_id, ZERO) + a.amount + a.gmf_amount
    for line in intent.lines:
        if line.target_savings_account_id is not None:
            credited[line.target_savings_account_id] = credited.get(line.target_savings_account_id, ZERO) - line.amount
    if refund_account is not None:
        # The reversing entry took the PSE money out of the bank account again (it mirrors
        # the payment's debit to banks); it cannot go back through PSE, so it lands in savings.
        ids = chart.coop_account_ids(session)
        entry_ids.append(post_entry(
            session, kind=KIND_REVERSAL_PSE_REFUND,
            description=f"Reversión pago No. {intent.id}: parte PSE reintegrada a ahorros ({who})",
            postings=[debit(ids["banks"], pse_amount), credit(refund_account[1], pse_amount)],
            payment_intent_id=intent.id,
        ))
        credited[refund_account[0]] = credited.get(refund_account[0], ZERO) + pse_amount

    restored = _restore_installments(session, allocations)
    session.execute(_REOPEN_OBLIGATIONS_SQL, {"ids": obligation_ids})
    session.execute(_MOVE_REVERSED_SQL, {"id": intent.id, "now": now})
    # The receipt is no longer issued for a reversed payment (receipts.receipt refuses it;
    # its number stays taken, gapless): an unsent receipt e-mail is ended, not retried.
    session.execute(_END_RECEIPT_MAIL_SQL, {"key": outbox.receipt_key(intent.id)})
    session.execute(_NOTICE_SQL, {
        "member_id": intent.member_id, "key": f"payment-reversed:{intent.id}",
        "subject": f"Reversión de su pago Zona Privada No. {intent.id}",
        "body": (f"La cooperativa reversó su pago No. {intent.id} por {format_cop(intent.total_amount)}. "
                 "Las cuotas que pagó quedaron como estaban antes del pago y el dinero volvió a su origen"
                 + (f"; lo pagado por PSE ({format_cop(pse_amount)}) se abonó a su cuenta de ahorros "
                    f"No. {refund_account[2]}" if refund_account is not None else "")
                 + ". Si tiene dudas, comuníquese con la cooperativa."),
    })
    _audit(session, intent.member_id, AUDIT_REVERSED, intent.id, ip, {
        "requested_by": requested_by, "approved_by": approved_by, "reason": reason,
        "entries": entry_ids, "reversal_of": [e for e, _ in entries], "pse_to_savings": str(pse_amount),
        "credited": {str(k): str(v) for k, v in credited.items()}, "installments": restored,
    })
    log.warning("payment intent reversed", extra={"payment_intent_id": intent.id, "requested_by": requested_by,
                                                  "approved_by": approved_by})
    return ReversalResult(intent.id, True, IntentState.REVERSED, tuple(entry_ids), credited,
                          MSG_REVERSED.format(id=intent.id, total=format_cop(intent.total_amount)))


_LOCK_ACCOUNTS_SQL = text("SELECT id FROM savings_accounts WHERE id = ANY(:ids) ORDER BY id FOR UPDATE")
_LOCK_OBLIGATIONS_SQL = text("SELECT id FROM obligations WHERE id = ANY(:ids) ORDER BY id FOR UPDATE")
_ALLOCATIONS_SQL = text(f"""
    SELECT a.id, a.obligation_id, o.number AS obligation_number, o.kind AS obligation_kind, a.installment_id,
           a.is_prepayment, i.due_date, i.id IS NOT NULL AS installment_exists,
           {", ".join(f"a.{c}" for c in (x.value for x in ALLOCATION_ORDER))},
           {", ".join(f"i.{PAID_PREFIX}{c} AS now_{c}" for c in (x.value for x in ALLOCATION_ORDER))}
    FROM allocations a JOIN obligations o ON o.id = a.obligation_id
    LEFT JOIN installments i ON i.id = a.installment_id
    WHERE a.intent_id = :intent_id ORDER BY a.id""")
# Another applied payment whose allocations touch the same obligations and that was
# applied after this one (or, same instant, has a later id).
_LATER_PAYMENT_SQL = text(f"""
    SELECT p.id, o.number FROM allocations a
    JOIN payment_intents p ON p.id = a.intent_id
    JOIN obligations o ON o.id = a.obligation_id
    WHERE a.obligation_id = ANY(:obligation_ids) AND a.intent_id <> :intent_id
      AND p.state = '{IntentState.APPLIED.value}'
      AND (p.applied_at, p.id) > ((SELECT applied_at FROM payment_intents WHERE id = :intent_id), :intent_id)
    ORDER BY p.applied_at, p.id LIMIT 1""")
_APPLIED_AT_SQL = text("SELECT applied_at FROM payment_intents WHERE id = :id")
_ENTRIES_TO_REVERSE_SQL = text("""
    SELECT e.id, e.kind FROM journal_entries e
    WHERE e.payment_intent_id = :intent_id AND e.kind IN ('payment', 'transfer') AND e.reversal_of_id IS NULL
      AND NOT EXISTS (SELECT 1 FROM journal_entries r WHERE r.reversal_of_id = e.id)
    ORDER BY e.id""")
_ENTRY_LINES_SQL = text("SELECT ledger_account_id, debit, credit FROM journal_lines WHERE entry_id = :id ORDER BY id")
_RESTORE_SQL = text(f"""
    UPDATE installments SET {", ".join(f"{PAID_PREFIX}{c} = {PAID_PREFIX}{c} - :{c}"
                                      for c in (x.value for x in ALLOCATION_ORDER))}
    WHERE id = :installment_id""")
# An obligation the payment paid off owes again once its installments are restored.
_REOPEN_OBLIGATIONS_SQL = text(f"""
    UPDATE obligations o SET status = '{ObligationStatus.ACTIVE.value}'
    WHERE o.id = ANY(:ids) AND o.status = '{ObligationStatus.PAID_OFF.value}'
      AND EXISTS (SELECT 1 FROM installments i WHERE i.obligation_id = o.id
                  AND i.paid_principal + i.paid_interest + i.paid_fees + i.paid_late_interest
                      < i.principal + i.interest + i.fees + i.late_interest)""")
_MOVE_REVERSED_SQL = text(f"""
    UPDATE payment_intents SET state = '{IntentState.REVERSED.value}', state_changed_at = :now,
                               step_deadline_at = NULL
    WHERE id = :id AND state = '{IntentState.APPLIED.value}'""")
_END_RECEIPT_MAIL_SQL = text("""
    UPDATE notification_outbox SET status = 'failed', last_error = 'pago reversado antes de enviar el recibo'
    WHERE dedupe_key = :key AND status = 'pending'""")
# The member is told, once, through the outbox (no row when there is no e-mail address).
_NOTICE_SQL = text("""
    INSERT INTO notification_outbox (channel, recipient, subject, body, dedupe_key)
    SELECT 'email', m.email, :subject, :body, :key FROM members m
    WHERE m.id = :member_id AND btrim(coalesce(m.email, '')) <> ''
    ON CONFLICT (dedupe_key) DO NOTHING""")
_AUDIT_SQL = text("""
    INSERT INTO audit_events (member_id, kind, payment_intent_id, ip, detail)
    VALUES (:member_id, :kind, :intent_id, :ip, CAST(:detail AS jsonb))""")
_AVAILABLE_SQL = text(f"""
    SELECT s.number,
           coalesce((SELECT sum(l.credit - l.debit) FROM journal_lines l WHERE l.ledger_account_id = s.ledger_account_id), 0)
           - coalesce((SELECT sum(h.amount) FROM holds h WHERE h.savings_account_id = s.id AND h.state = 'pending'), 0)
           - s.minimum_balance AS available
    FROM savings_accounts s WHERE s.id = :id""")
_REFUND_ACCOUNT_SQL = text(f"""
    SELECT id, ledger_account_id, number FROM savings_accounts
    WHERE member_id = :member_id AND status = '{SavingsStatus.ACTIVE.value}'
    ORDER BY product = '{SavingsProduct.RENTADIARIO.value}' DESC, id
    LIMIT 1""")


def _refuse_unless_exact(session: Session, intent: IntentRow, allocations: list, now: datetime) -> None:  # noqa: ANN001
    """Refuse (raise, nothing written) whenever putting every installment back exactly
    as it was before the payment cannot be guaranteed: a guess would be worse."""
    obligation_ids = sorted({a["obligation_id"] for a in allocations})
    if obligation_ids:
        later = session.execute(_LATER_PAYMENT_SQL, {"obligation_ids": obligation_ids, "intent_id": intent.id}).first()
        if later is not None:
            raise ReversalImpossible(MSG_LATER_PAYMENT.format(id=intent.id, later=later[0], obligation=later[1]))
    applied_at = session.execute(_APPLIED_AT_SQL, {"id": intent.id}).scalar_one()
    paid_on = bogota_date(applied_at or now)
    for a in allocations:
        if a["is_prepayment"]:
            # The schedule was recomputed and installments dropped (processing._reschedule);
            # the old schedule is not stored anywhere, so it cannot be put back exactly.
            raise ReversalImpossible(MSG_PREPAYMENT.format(id=intent.id, obligation=a["obligation_number"]))
        if not a["installment_exists"] or any(a[f"now_{c.value}"] < a[c.value] for c in ALLOCATION_ORDER):
            raise ReversalImpossible(MSG_INSTALLMENT_GONE.format(id=intent.id))
        if a["obligation_kind"] == "loan" and a["principal"] > 0 and a["due_date"] > paid_on:
            # Principal paid before the due date re-bills the period's interest
            # (db/payments/early_payment.py) without storing the old figure.
            raise ReversalImpossible(MSG_EARLY_LOAN.format(id=intent.id, obligation=a["obligation_number"]))
    if intent.kind is IntentKind.TRANSFER:
        for line in intent.lines:
            if line.target_savings_account_id is None:
                continue
            number, available = session.execute(_AVAILABLE_SQL, {"id": line.target_savings_account_id}).one()
            if available < line.amount:
                raise ReversalImpossible(MSG_TRANSFER_SPENT.format(id=intent.id, account=number))


def _reverse_entry(session: Session, intent_id: int, entry_id: int, description: str) -> int:
    lines = session.execute(_ENTRY_LINES_SQL, {"id": entry_id}).all()
    return post_entry(
        session, kind=KIND_REVERSAL, description=description,
        postings=[debit(acc, cr) if cr else credit(acc, dr) for acc, dr, cr in lines],
        payment_intent_id=intent_id, reversal_of_id=entry_id,
    )


def _restore_installments(session: Session, allocations: list) -> list[dict[str, object]]:  # noqa: ANN001
    params = [{"installment_id": a["installment_id"], **{c.value: a[c.value] for c in ALLOCATION_ORDER}}
              for a in allocations if a["installment_id"] is not None]
    if params:
        session.execute(_RESTORE_SQL, params)
    return [{"installment_id": p["installment_id"], **{k: str(v) for k, v in p.items() if k != "installment_id"}}
            for p in params]


def _refund_account(session: Session, member_id: int) -> tuple[int, int, str] | None:
    row = session.execute(_REFUND_ACCOUNT_SQL, {"member_id": member_id}).first()
    return (row[0], row[1], row[2]) if row else None


def _audit(session: Session, member_id: int, kind: str, intent_id: int | None, ip: str,
           detail: dict[str, object]) -> None:
    session.execute(_AUDIT_SQL, {"member_id": member_id, "kind": kind, "intent_id": intent_id,
                                 "ip": (ip or "")[:45] or None, "detail": json.dumps(detail, default=str)})


def _check_actors(requested_by: str, approved_by: str, reason: str) -> None:
    if not (requested_by or "").strip() or not (approved_by or "").strip() or not (reason or "").strip():
        raise InvalidOperatorRequest(MSG_MISSING_ACTOR)
    if requested_by.strip().casefold() == approved_by.strip().casefold():
        raise InvalidOperatorRequest(MSG_SAME_ACTOR)


# ---------------------------------------------------------------- refund to savings


def refund_to_savings(
    session: Session, intent_id: int | None, amount: Decimal, *, member_id: int | None = None,
    request_key: str | None = None, requested_by: str, approved_by: str, reason: str, ip: str,
    review_item_id: int | None = None, now: datetime | None = None,
) -> RefundResult:
    """Credit `amount` to the member's Rentadiario (Rentahorrito when there is none)
    against the bank account, for a decision such as an approved-not-applied PSE payment
    that was left in the bank. Give the intent (its member is used), or None and
    `member_id`.

    Idempotent per `request_key` (the console's four-eyes request id; it defaults to
    f"review:{review_item_id}"): a second call with the same key and data changes
    nothing and says so; the same key with other data is refused. With `review_item_id`
    the review item (which must be the intent's) is resolved in the same transaction.
    Raises RefundRejected / InvalidOperatorRequest / IntentNotFound, having written nothing."""
    _check_actors(requested_by, approved_by, reason)
    if request_key is None and review_item_id is not None:
        request_key = f"review:{review_item_id}"
    if not (request_key or "").strip() or len(request_key) > 100:
        raise RefundRejected(MSG_NO_KEY)
    if (intent_id is None) == (member_id is None):
        raise RefundRejected(MSG_NEEDS_TARGET)
    try:
        money = to_money(Decimal(amount))
    except Exception as exc:  # noqa: BLE001 - any unparsable amount is the operator's to fix
        raise RefundRejected(MSG_BAD_AMOUNT) from exc
    if money != Decimal(amount) or money <= 0:
        raise RefundRejected(MSG_BAD_AMOUNT)
    now = now or utcnow()
    if intent_id is not None:
        member = session.execute(text("SELECT member_id FROM payment_intents WHERE id = :id"),
                                 {"id": intent_id}).scalar_one_or_none()
        if member is None:
            raise IntentNotFound(MSG_NO_INTENT)
    else:
        member = session.execute(text("SELECT id FROM members WHERE id = :id"), {"id": member_id}).scalar_one_or_none()
        if member is None:
            raise IntentNotFound(MSG_NO_MEMBER)
    # One refund per request key, also under concurrency: a transaction-scoped advisory
    # lock on the key serializes two calls with it; the second reads the first's audit row.
    digest = int.from_bytes(hashlib.sha256(f"zona-refund:{request_key}".encode()).digest()[:8], "big", signed=True)
    session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": digest})
    done = session.execute(_REFUND_DONE_SQL, {"member_id": member, "key": request_key}).first()
    if done is not None:
        detail = done[0]
        if (Decimal(detail["amount"]) != money or detail.get("intent_id") != intent_id):
            raise RefundRejected(MSG_KEY_OTHER)
        return RefundResult(request_key, False, member, int(detail["savings_account_id"]), money,
                            int(detail["journal_entry_id"]),
                            MSG_ALREADY_REFUNDED.format(amount=format_cop(money), account=detail["account_number"]))
    if review_item_id is not None:
        resolved = session.execute(_RESOLVE_REVIEW_SQL, {"id": review_item_id, "intent_id": intent_id, "now": now})
        if resolved.rowcount != 1:
            raise RefundRejected(MSG_REVIEW_NOT_INTENT)
    account = _refund_account(session, member)
    if account is None:
        raise RefundRejected(MSG_NO_SAVINGS)
    ids = chart.coop_account_ids(session)
    # Not locked: a credit only raises the balance (late_approvals.py explains why).
    entry_id = post_entry(
        session, kind=KIND_OPERATOR_REFUND,
        description=(f"Reintegro aprobado {request_key}"
                     + (f" del pago Zona Privada No. {intent_id}" if intent_id else "")
                     + f" (solicitó {requested_by}, aprobó {approved_by}): {reason}"),
        postings=[debit(ids["banks"], money), credit(account[1], money)],
        payment_intent_id=intent_id,
    )
    _audit(session, member, AUDIT_REFUNDED, intent_id, ip, {
        "request_key": request_key, "requested_by": requested_by, "approved_by": approved_by, "reason": reason,
        "amount": str(money), "intent_id": intent_id, "savings_account_id": account[0],
        "account_number": account[2], "journal_entry_id": entry_id, "review_item_id": review_item_id,
    })
    log.warning("operator refund to savings", extra={"payment_intent_id": intent_id, "request_key": request_key})
    return RefundResult(request_key, True, member, account[0], money, entry_id,
                        MSG_REFUNDED.format(amount=format_cop(money), account=account[2]))


_REFUND_DONE_SQL = text(f"""
    SELECT detail FROM audit_events
    WHERE member_id = :member_id AND kind = '{AUDIT_REFUNDED}' AND detail->>'request_key' = :key
    LIMIT 1""")
_RESOLVE_REVIEW_SQL = text(f"""
    UPDATE review_items SET state = '{ReviewState.RESOLVED.value}', resolved_at = :now
    WHERE id = :id AND payment_intent_id IS NOT DISTINCT FROM :intent_id AND state = '{ReviewState.OPEN.value}'""")


__all__ = [
    "InvalidOperatorRequest", "IntentNotFound", "IntentNotReversible", "RefundRejected", "RefundResult", "ReversalError", "ReversalImpossible",
    "ReversalResult", "refund_to_savings", "reverse_applied_intent",
]
