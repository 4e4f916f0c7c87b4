"""Money PSE approved that the payment it was for can no longer take as asked (DESIGN §5:
a late approval is applied or refunded, never dropped).

- A late approval: PSE says OK after the intent expired for the member. A PSE-only
  intent whose obligations still owe what it asked for is applied now (EXPIRED → APPLIED,
  LATE_APPROVAL_TRANSITIONS), with its receipt; anything else (a mixed payment whose
  savings part was released, an obligation paid meanwhile) is refunded.
- An approval whose settle fails (the obligations changed between the approval and the
  apply): refunded.

A refund credits the PSE amount to the member's Rentadiario (Rentahorrito when there is
none), in one balanced entry against the bank account ACH pays into. Every case files a
review item in the same transaction, so a person sees each one.
"""
from __future__ import annotations

import json
import logging
from datetime import datetime
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.orm import Session

from domain.bogota_calendar import bogota_date
from domain.payment_states import AttemptKind, AttemptState, IntentState
from domain.payment_steps import Step, may_still_be_approved
from zona_privada.settings import Settings

from .. import chart
from ..ledger import credit, debit, post_entry
from ..models import PseResolution, ReviewKind, ReviewState, SavingsProduct, SavingsStatus
from .snapshots import IntentRow

log = logging.getLogger(__name__)

# Filing never loses an item: an intent that already has an open one (the reconciler's)
# gets this one's kind, reason and detail added to it.
_FILE_SQL = text(f"""
    INSERT INTO review_items (kind, payment_intent_id, reason, amount, detail)
    VALUES (:kind, :intent_id, :reason, :amount, CAST(:detail AS jsonb))
    ON CONFLICT (payment_intent_id) WHERE state = '{ReviewState.OPEN.value}'
    DO UPDATE SET kind = EXCLUDED.kind, reason = review_items.reason || ' · ' || EXCLUDED.reason,
                  detail = review_items.detail || EXCLUDED.detail""")

# Not locked: a credit only raises the balance (derived from the ledger lines), so no
# debit checked under the account's lock can be invalidated by it, and locking here,
# after the obligations, would break the lock order (accounts before obligations).
_REFUND_ACCOUNT_SQL = text(f"""
    SELECT id, ledger_account_id, number FROM savings_accounts
    WHERE member_id = :member_id AND status = '{SavingsStatus.ACTIVE.value}'
    ORDER BY product = '{SavingsProduct.RENTADIARIO.value}' DESC, id
    LIMIT 1""")
_RESOLVE_TX_SQL = text("UPDATE pse_transactions SET resolution = :resolution WHERE id = :tx_id")
_POST_ATTEMPT_SQL = text(f"""
    UPDATE funding_attempts SET state = '{AttemptState.POSTED.value}', updated_at = :now
    WHERE id = :id AND state IN ('{AttemptState.PENDING.value}', '{AttemptState.UNKNOWN.value}')""")


def file_review(session: Session, *, kind: ReviewKind, intent_id: int | None, reason: str, amount: Decimal | None,
                detail: dict[str, object]) -> None:
    session.execute(_FILE_SQL, {"kind": kind.value, "intent_id": intent_id, "reason": reason, "amount": amount,
                                "detail": json.dumps(detail, default=str)})


def refund_to_savings(session: Session, intent: IntentRow, attempt_id: int, amount: Decimal, tx_id: int,
                      cus: str | None, now: datetime, *, why: str) -> bool:
    """Credit PSE's money to the member's own savings (debit the bank account ACH paid
    into) and mark the attempt posted: the money arrived and went somewhere. Returns
    False when the member has no active savings account: the money stays in the bank
    account and the review item says so."""
    account = session.execute(_REFUND_ACCOUNT_SQL, {"member_id": intent.member_id}).first()
    session.execute(_POST_ATTEMPT_SQL, {"id": attempt_id, "now": now})
    session.execute(_RESOLVE_TX_SQL, {"tx_id": tx_id, "resolution": PseResolution.REFUNDED.value
                                      if account else PseResolution.REVIEW.value})
    if account is None:
        return False
    ids = chart.coop_account_ids(session)
    post_entry(
        session, kind="pse_refund",
        description=f"Reintegro PSE CUS {cus or 'sin CUS'} del pago Zona Privada No. {intent.id}",
        postings=[debit(ids["banks"], amount), credit(account.ledger_account_id, amount)],
        payment_intent_id=intent.id,
    )
    log.warning("pse approval refunded to savings", extra={"payment_intent_id": intent.id, "why": why,
                                                           "savings_account_id": account.id})
    return True


def _detail(intent: IntentRow, tx_id: int, cus: str | None, amount: Decimal, **more: object) -> dict[str, object]:
    return {"pse_transaction_id": tx_id, "cus": cus, "pse_amount": str(amount), "intent_state": intent.state.value,
            **more}


def refund_approval(session: Session, intent: IntentRow, attempt_id: int, amount: Decimal, tx_id: int,
                    cus: str | None, now: datetime, *, kind: ReviewKind, why: str) -> None:
    refunded = refund_to_savings(session, intent, attempt_id, amount, tx_id, cus, now, why=why)
    reason = (f"PSE aprobó {amount} (CUS {cus}) y no se pudo aplicar: {why}. "
              + ("Reintegrado a la cuenta de ahorros del asociado" if refunded
                 else "El asociado no tiene cuenta de ahorros activa: el dinero queda en bancos"))
    file_review(session, kind=kind, intent_id=intent.id, reason=reason, amount=amount,
                detail=_detail(intent, tx_id, cus, amount, refunded=refunded, why=why))


def apply_late_approval(
    session: Session, intent: IntentRow, attempt_id: int, amount: Decimal, tx_id: int, cus: str | None,
    now: datetime, settings: Settings,
) -> str:
    """PSE approved after the intent ended (expired). Apply it when the intent was paid by
    PSE alone and its obligations still owe it; refund it otherwise. Returns the
    resolution. The caller holds the intent's lock."""
    from .processing import _HOLD_COVERED, _book, _finish_applied, _lock_and_check

    others = [a for a in intent.attempts if a.id != attempt_id and a.state is not AttemptState.DECLINED]
    if intent.state is IntentState.EXPIRED and not others:
        locked = _lock_and_check(session, intent, today=bogota_date(now), settings=settings)
        if locked.failure_reason is None or locked.failure_reason in _HOLD_COVERED:
            _book(session, Step.SETTLE, intent, locked, now)
            _finish_applied(session, Step.SETTLE, intent, now, late=True)
            session.execute(_RESOLVE_TX_SQL, {"tx_id": tx_id, "resolution": PseResolution.LATE_APPLIED.value})
            file_review(session, kind=ReviewKind.LATE_APPROVAL_APPLIED, intent_id=intent.id, amount=amount,
                        reason=f"PSE aprobó tarde (CUS {cus}) un pago vencido; se aplicó a las obligaciones",
                        detail=_detail(intent, tx_id, cus, amount))
            log.warning("late pse approval applied", extra={"payment_intent_id": intent.id})
            return PseResolution.LATE_APPLIED.value
        why = f"las obligaciones ya no lo admiten ({locked.failure_reason})"
    elif others:
        why = "el pago combinaba ahorros y PSE y la parte de ahorros ya se liberó"
    else:
        why = f"el pago terminó como '{intent.state.value}'"
    refund_approval(session, intent, attempt_id, amount, tx_id, cus, now,
                    kind=ReviewKind.LATE_APPROVAL_REFUNDED, why=f"aprobación tardía; {why}")
    return PseResolution.REFUNDED.value


def approved_attempt(intent: IntentRow) -> tuple[int, Decimal] | None:
    """The PSE attempt of an intent that PSE may still approve (pending or unknown)."""
    for a in intent.attempts:
        if a.kind is AttemptKind.PSE and may_still_be_approved(a.kind, a.state):
            return a.id, a.amount
    return None


__all__ = ["apply_late_approval", "approved_attempt", "file_review", "refund_approval", "refund_to_savings"]
