"""The PSE steps a worker runs (issue 10 §4, DESIGN §4–§5). None holds a transaction open
across a call to PSE: each call sits between two short transactions.

    send:     begin_send (CREATED → SENT, committed)  · createTransactionPayment ·
              record_created / record_send_lost / record_send_refused
    query:    query_target (read)  · getTransactionInformation ·  record_answer
    settle:   processing.settle_intent (posts the holds and the PSE money, applies)
    finalize: finalize_target (read)  · finalizeTransactionPayment ·  record_finalized

The ticket is committed with the intent; `begin_send` commits SENT before the create
leaves, so a create is sent at most once: a worker that dies after that commit leaves a
SENT row the poller turns UNKNOWN once `pse_send_timeout_s` has passed, and an unknown
attempt is resolved from the conciliation file, never by sending again. Every write locks
the intent first and the transaction row second (the lock order of processing.py).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.orm import Session

from domain.payment_states import AttemptKind, AttemptState, IntentState
from domain.payment_steps import Step, step_for
from domain.pse_polling import Phase, next_query_at
from domain.pse_messages import (
    FAIL_INVALIDSTATE,
    STATE_FAILED,
    STATE_NOT_AUTHORIZED,
    STATE_OK,
    STATE_PENDING,
    SUCCESS,
    CreateRequest,
    CreateResult,
    TransactionInfo,
)
from zona_privada.settings import Settings, get_settings

from ..models import PseResolution, PseState, ReviewKind
from .late_approvals import apply_late_approval, file_review
from .processing import Outcome, StepResult, _audit, _set_attempts, mark_funded, release_intent
from .snapshots import IntentRow, lock_intent
from .intents import utcnow

log = logging.getLogger(__name__)

# Why a create ended without a transaction at PSE, as the member reads it.
MSG_PSE_REFUSED = "PSE no aceptó la transacción ({code}); puede intentar de nuevo"
MSG_PSE_UNREACHABLE = "No fue posible comunicarse con PSE; intente más tarde"
MSG_PSE_DECLINED = {STATE_NOT_AUTHORIZED: "Transacción rechazada por su entidad financiera",
                    STATE_FAILED: "Transacción fallida en PSE"}


@dataclass(frozen=True, slots=True)
class TxRow:
    id: int
    attempt_id: int
    intent_id: int
    ticket_id: str
    state: PseState
    cus: str | None
    amount: Decimal
    sent_at: datetime | None
    finalized_at: datetime | None


_TX_SQL = text("""
    SELECT t.id, t.attempt_id, f.intent_id, t.ticket_id, t.state, t.trazability_code AS cus, t.amount, t.sent_at,
           t.finalized_at
    FROM pse_transactions t JOIN funding_attempts f ON f.id = t.attempt_id
    WHERE t.id = :id""")
_LOCK_TX_SQL = text(str(_TX_SQL) + " FOR NO KEY UPDATE OF t")  # keys never change; FK checks may pass


def _tx(session: Session, tx_id: int, *, lock: bool = False) -> TxRow | None:
    row = session.execute(_LOCK_TX_SQL if lock else _TX_SQL, {"id": tx_id}).first()
    if row is None:
        return None
    m = row._mapping
    return TxRow(**{**m, "state": PseState(m["state"])})


def _locked(session: Session, tx_id: int) -> tuple[IntentRow, TxRow] | None:
    """Intent first, then the transaction row (the global lock order)."""
    tx = _tx(session, tx_id)
    if tx is None:
        return None
    intent = lock_intent(session, tx.intent_id)
    locked_tx = _tx(session, tx_id, lock=True)
    assert intent is not None and locked_tx is not None
    return intent, locked_tx


def _attempt_state(intent: IntentRow, attempt_id: int) -> AttemptState:
    return next(a.state for a in intent.attempts if a.id == attempt_id)


# ---------------------------------------------------------------- send (createTransactionPayment)

@dataclass(frozen=True, slots=True)
class SendOrder:
    tx_id: int
    intent_id: int
    request: CreateRequest


_SENT_SQL = text(f"UPDATE pse_transactions SET state = '{PseState.SENT.value}', sent_at = :now WHERE id = :id")
_SEND_FACTS_SQL = text("""
    SELECT t.bank_code, t.user_type, t.entity_url, t.payer_ip, m.document_type, m.document_number
    FROM pse_transactions t JOIN funding_attempts f ON f.id = t.attempt_id
    JOIN payment_intents p ON p.id = f.intent_id JOIN members m ON m.id = p.member_id
    WHERE t.id = :id""")


def begin_send(session: Session, tx_id: int, *, now: datetime | None = None) -> SendOrder | None:
    """CREATED → SENT, for an intent still funding; the caller commits BEFORE calling PSE.
    None: nothing to send (already sent, or the intent ended: never send after that)."""
    now = now or utcnow()
    found = _locked(session, tx_id)
    if found is None:
        return None
    intent, tx = found
    if tx.state is not PseState.CREATED or intent.state is not IntentState.FUNDING:
        return None
    facts = session.execute(_SEND_FACTS_SQL, {"id": tx_id}).one()
    session.execute(_SENT_SQL, {"id": tx_id, "now": now})
    request = CreateRequest(
        ticket_id=int(tx.ticket_id), bank_code=facts.bank_code, amount=tx.amount, return_url=facts.entity_url or "",
        user_type=str(facts.user_type),
        # De-facto references (pse-reference §1.2): payer IP, document type and number.
        references=(facts.payer_ip or "0.0.0.0", facts.document_type, facts.document_number),
        description=f"Pago Zona Privada No. {intent.id}",
    )
    return SendOrder(tx_id, intent.id, request)


_CREATED_SQL = text(f"""
    UPDATE pse_transactions SET state = '{PseState.PENDING.value}', return_code = :code, trazability_code = :cus,
                                bank_url = :bank_url, transaction_cycle = :cycle, next_poll_at = :next_poll_at
    WHERE id = :id""")
_NOT_CREATED_SQL = text(f"""
    UPDATE pse_transactions SET state = '{PseState.NOT_CREATED.value}', return_code = :code, answered_at = :now
    WHERE id = :id""")
_UNKNOWN_SQL = text(f"UPDATE pse_transactions SET state = '{PseState.UNKNOWN.value}', return_code = :code WHERE id = :id")


def _sent(session: Session, tx_id: int) -> tuple[IntentRow, TxRow] | StepResult:
    found = _locked(session, tx_id)
    if found is None:
        return StepResult(0, Outcome.MISSING, None)
    intent, tx = found
    if tx.state is not PseState.SENT:
        return StepResult(intent.id, Outcome.NOTHING_TO_DO, intent.state)  # recorded already
    return intent, tx


def record_created(session: Session, tx_id: int, result: CreateResult, *, phases: tuple[Phase, ...],
                   now: datetime | None = None) -> StepResult:
    """The create's answer: SUCCESS → PENDING with CUS and bankurl, first query scheduled;
    any other return code is definitive (FAIL_TIMEOUT was retried by the client): the
    intent is released (its holds voided, the PSE attempt declined)."""
    now = now or utcnow()
    found = _sent(session, tx_id)
    if isinstance(found, StepResult):
        return found
    intent, tx = found
    if result.ok:
        session.execute(_CREATED_SQL, {"id": tx_id, "code": result.return_code, "cus": result.cus,
                                       "bank_url": result.bank_url, "cycle": result.cycle,
                                       "next_poll_at": next_query_at(tx.sent_at or now, now, phases)})
        log.info("pse transaction created", extra={"payment_intent_id": intent.id, "pse_transaction_id": tx_id})
        return StepResult(intent.id, Outcome.NOTHING_TO_DO, intent.state)
    session.execute(_NOT_CREATED_SQL, {"id": tx_id, "code": result.return_code[:40], "now": now})
    return _release(session, intent, MSG_PSE_REFUSED.format(code=result.return_code), now)


def record_send_refused(session: Session, tx_id: int, code: str, *, now: datetime | None = None) -> StepResult:
    """Nothing was created at PSE (unreachable after the retries, or a SOAP fault that
    refused the request itself): the intent is released; the member may pay again."""
    now = now or utcnow()
    found = _sent(session, tx_id)
    if isinstance(found, StepResult):
        return found
    intent, _tx_row = found
    session.execute(_NOT_CREATED_SQL, {"id": tx_id, "code": code[:40], "now": now})
    return _release(session, intent, MSG_PSE_UNREACHABLE, now)


def record_send_lost(session: Session, tx_id: int, detail: str, *, now: datetime | None = None) -> StepResult:
    """The create may have reached the bank and its answer was lost: the attempt is
    unknown, never sent again; the obligations stay blocked as pending until the
    conciliation file resolves it."""
    now = now or utcnow()
    found = _sent(session, tx_id)
    if isinstance(found, StepResult):
        return found
    intent, tx = found
    session.execute(_UNKNOWN_SQL, {"id": tx_id, "code": "RESPUESTA_PERDIDA"})
    attempt = next(a for a in intent.attempts if a.id == tx.attempt_id)
    if attempt.state is AttemptState.PENDING:
        _set_attempts(session, Step.SEND, [(attempt, AttemptState.UNKNOWN, None)], now, detail)
    _audit(session, intent, "pse_create_unknown", {"pse_transaction_id": tx_id, "detail": detail[:200]})
    log.warning("pse create answer lost: attempt unknown", extra={"payment_intent_id": intent.id,
                                                                  "pse_transaction_id": tx_id})
    return StepResult(intent.id, Outcome.NOTHING_TO_DO, intent.state)


def _release(session: Session, intent: IntentRow, reason: str, now: datetime) -> StepResult:
    if intent.state is IntentState.FUNDING:
        return release_intent(session, intent.id, reason, now=now)
    # The intent already ended (expired): only the attempt is declined.
    _set_attempts(session, Step.RELEASE, ((a, AttemptState.DECLINED, None) for a in intent.attempts
                                          if a.kind is AttemptKind.PSE and a.state in (AttemptState.PENDING,
                                                                                      AttemptState.UNKNOWN)),
                  now, reason)
    return StepResult(intent.id, Outcome.RELEASED, intent.state, reason)


# ---------------------------------------------------------------- query (getTransactionInformation)

_QUERIED_SQL = text("""
    UPDATE pse_transactions SET last_query_at = :now, poll_count = poll_count + 1, next_poll_at = :next_poll_at
    WHERE id = :id""")
_DECIDED_SQL = text("""
    UPDATE pse_transactions SET state = :state, answered_at = :now, last_query_at = :now,
                                poll_count = poll_count + 1, next_poll_at = NULL,
                                bank_process_date = coalesce(:bank_date, bank_process_date),
                                trazability_code = coalesce(trazability_code, :cus),
                                resolution = coalesce(:resolution, resolution)
    WHERE id = :id""")


def query_target(session: Session, tx_id: int) -> str | None:
    """The CUS to ask about, when the transaction is still undecided at PSE."""
    tx = _tx(session, tx_id)
    if tx is None or tx.state is not PseState.PENDING or not tx.cus:
        return None
    return tx.cus


@dataclass(frozen=True, slots=True)
class AnswerResult:
    step: StepResult
    finalize: bool = False  # an OK to acknowledge with finalizeTransactionPayment after commit


def record_answer(
    session: Session, tx_id: int, info: TransactionInfo, *, phases: tuple[Phase, ...],
    now: datetime | None = None, settings: Settings | None = None,
) -> AnswerResult:
    """Store what getTransactionInformation said, under the intent's lock. PENDING (or
    an answer that is not a clear final state for THIS transaction) schedules the next
    query; OK funds the intent (settle follows) or, when it already ended, is a late
    approval; NOT_AUTHORIZED / FAILED release it. Never a local failure while PSE
    still says PENDING."""
    settings = settings or get_settings()
    now = now or utcnow()
    found = _locked(session, tx_id)
    if found is None:
        return AnswerResult(StepResult(0, Outcome.MISSING, None))
    intent, tx = found
    if tx.state is not PseState.PENDING:
        return AnswerResult(StepResult(intent.id, Outcome.NOTHING_TO_DO, intent.state))
    problem = _implausible(tx, info)
    if problem or info.state == STATE_PENDING or not info.final:
        if problem:
            log.warning("pse answer not taken", extra={"payment_intent_id": intent.id, "pse_transaction_id": tx_id,
                                                        "problem": problem})
        next_at = next_query_at(tx.sent_at or now, now, phases)
        session.execute(_QUERIED_SQL, {"id": tx_id, "now": now, "next_poll_at": next_at})
        if next_at is None:
            file_review(session, kind=ReviewKind.AWAITING_PAST_DEADLINE, intent_id=intent.id, amount=tx.amount,
                        reason="PSE no dio estado final en todo el calendario de consultas; queda a la conciliación",
                        detail={"pse_transaction_id": tx_id, "cus": tx.cus})
        return AnswerResult(StepResult(intent.id, Outcome.NOTHING_TO_DO, intent.state))
    return decide(session, intent, tx, info.state or "", now=now, settings=settings,
                  bank_date=info.bank_process_date, cus=info.cus)


def _implausible(tx: TxRow, info: TransactionInfo) -> str | None:
    """An answer about another transaction, or with another amount, is never acted on
    (a malformed or mixed-up answer leaves the attempt pending)."""
    if info.return_code != SUCCESS:
        return f"returnCode {info.return_code}"
    if info.cus and tx.cus and info.cus != tx.cus:
        return f"CUS {info.cus} != {tx.cus}"
    if info.ticket_id is not None and str(info.ticket_id) != tx.ticket_id:
        return f"ticketId {info.ticket_id} != {tx.ticket_id}"
    if info.amount is not None and info.amount != tx.amount:
        return f"valor {info.amount} != {tx.amount}"
    return None


def decide(
    session: Session, intent: IntentRow, tx: TxRow, state: str, *, now: datetime, settings: Settings,
    bank_date: date | None = None, cus: str | None = None,
) -> AnswerResult:
    """PSE's final state for `tx` (from a query or the conciliation file), applied under
    the intent's lock held by the caller."""
    attempt_state = _attempt_state(intent, tx.attempt_id)
    if state == STATE_OK:
        if intent.state is IntentState.FUNDING:
            session.execute(_DECIDED_SQL, {"id": tx.id, "state": PseState.OK.value, "now": now, "bank_date": bank_date,
                                           "cus": cus, "resolution": None})
            result = mark_funded(session, intent.id, now=now)
            return AnswerResult(result, finalize=False)  # finalized once applied (settle)
        if not intent.state.is_terminal():
            # Created or funded while this transaction is undecided cannot happen (the
            # send waits for funding; funded means this OK was already stored): touch
            # nothing and say so loudly rather than guess.
            log.error("pse approval for an intent in an unexpected state",
                      extra={"payment_intent_id": intent.id, "state": intent.state.value})
            return AnswerResult(StepResult(intent.id, Outcome.NOTHING_TO_DO, intent.state))
        resolution = None
        if attempt_state in (AttemptState.PENDING, AttemptState.UNKNOWN):
            session.execute(_DECIDED_SQL, {"id": tx.id, "state": PseState.OK.value, "now": now, "bank_date": bank_date,
                                           "cus": cus, "resolution": None})
            resolution = apply_late_approval(session, intent, tx.attempt_id, tx.amount, tx.id, cus or tx.cus, now,
                                             settings)
        else:
            # We had already declined it (PSE said no, or conciliation found nothing):
            # a contradiction no machine should settle; the money is flagged for a person.
            session.execute(_DECIDED_SQL, {"id": tx.id, "state": PseState.OK.value, "now": now, "bank_date": bank_date,
                                           "cus": cus, "resolution": PseResolution.REVIEW.value})
            file_review(session, kind=ReviewKind.CONCILIATION_MISMATCH, intent_id=intent.id, amount=tx.amount,
                        reason=f"PSE aprobó la transacción {tx.ticket_id} que aquí estaba {attempt_state.value}",
                        detail={"pse_transaction_id": tx.id, "cus": cus or tx.cus})
        log.warning("pse approval after the intent ended", extra={"payment_intent_id": intent.id,
                                                                  "resolution": resolution})
        return AnswerResult(StepResult(intent.id, Outcome.NOTHING_TO_DO, intent.state), finalize=True)
    if state in (STATE_NOT_AUTHORIZED, STATE_FAILED):
        session.execute(_DECIDED_SQL, {"id": tx.id, "state": state, "now": now, "bank_date": bank_date, "cus": cus,
                                       "resolution": None})
        return AnswerResult(_release(session, intent, MSG_PSE_DECLINED[state], now))
    raise ValueError(f"not a final PSE state: {state!r}")


# ---------------------------------------------------------------- finalize

def finalize_target(session: Session, tx_id: int) -> str | None:
    """The CUS to acknowledge: approved, its money booked (applied or refunded), not yet
    finalized."""
    row = session.execute(text(f"""
        SELECT t.trazability_code FROM pse_transactions t JOIN funding_attempts f ON f.id = t.attempt_id
        WHERE t.id = :id AND t.state = '{PseState.OK.value}' AND t.finalized_at IS NULL
          AND (f.state = '{AttemptState.POSTED.value}' OR t.resolution IS NOT NULL)"""), {"id": tx_id}).first()
    return row[0] if row else None


def record_finalized(session: Session, tx_id: int, code: str, *, now: datetime | None = None) -> bool:
    """SUCCESS, or FAIL_INVALIDSTATE (already finalized: finalize is idempotent at ACH's
    end too), closes it; anything else leaves it for the poller's next run."""
    now = now or utcnow()
    if code not in (SUCCESS, FAIL_INVALIDSTATE):
        return False
    session.execute(text("UPDATE pse_transactions SET finalized_at = :now, finalize_code = :code "
                         "WHERE id = :id AND finalized_at IS NULL"), {"id": tx_id, "now": now, "code": code})
    return True


# ---------------------------------------------------------------- the poller's sweep

@dataclass(frozen=True, slots=True)
class Sweep:
    queries: tuple[int, ...]      # transactions whose next query is due
    sends: tuple[int, ...]        # tickets never sent of funding intents (a lost send message)
    unknown: tuple[int, ...]      # sent long ago, answer never stored: now unknown
    finalizes: tuple[int, ...]    # approved and booked, not finalized


# Claimed with SKIP LOCKED and leased (next_poll_at pushed) in the same statement, so two
# pollers, or a poller and a worker busy with the row, never query one transaction twice.
_DUE_QUERIES_SQL = text(f"""
    UPDATE pse_transactions t SET next_poll_at = :lease_until
    WHERE t.id IN (SELECT id FROM pse_transactions
                   WHERE state = '{PseState.PENDING.value}' AND next_poll_at <= :now
                   ORDER BY next_poll_at LIMIT :batch FOR UPDATE SKIP LOCKED)
    RETURNING t.id""")
_UNSENT_SQL = text(f"""
    SELECT t.id FROM pse_transactions t JOIN funding_attempts f ON f.id = t.attempt_id
    JOIN payment_intents p ON p.id = f.intent_id
    WHERE t.state = '{PseState.CREATED.value}' AND p.state = '{IntentState.FUNDING.value}'
      AND p.state_changed_at <= :stale
    ORDER BY t.id LIMIT :batch""")
_STALE_SENT_SQL = text(f"""
    SELECT id FROM pse_transactions WHERE state = '{PseState.SENT.value}' AND sent_at <= :cutoff
    ORDER BY id LIMIT :batch""")
_UNFINALIZED_SQL = text(f"""
    SELECT t.id FROM pse_transactions t JOIN funding_attempts f ON f.id = t.attempt_id
    WHERE t.state = '{PseState.OK.value}' AND t.finalized_at IS NULL AND t.answered_at <= :stale
      AND (f.state = '{AttemptState.POSTED.value}' OR t.resolution IS NOT NULL)
    ORDER BY t.id LIMIT :batch""")


def sweep(session: Session, *, now: datetime | None = None, settings: Settings | None = None,
          lease_s: float = 60.0) -> Sweep:
    """What the beat poller hands to the workers. The caller commits, then enqueues."""
    settings = settings or get_settings()
    now = now or utcnow()
    batch = settings.pse_poll_batch
    stale = now - timedelta(seconds=max(settings.pse_poll_period_s, 1.0))
    queries = session.execute(_DUE_QUERIES_SQL, {"now": now, "batch": batch,
                                                 "lease_until": now + timedelta(seconds=lease_s)}).scalars().all()
    sends = session.execute(_UNSENT_SQL, {"stale": stale, "batch": batch}).scalars().all()
    cutoff = now - timedelta(seconds=settings.pse_send_timeout_s)
    unknown = session.execute(_STALE_SENT_SQL, {"cutoff": cutoff, "batch": batch}).scalars().all()
    finalizes = session.execute(_UNFINALIZED_SQL, {"stale": stale, "batch": batch}).scalars().all()
    return Sweep(tuple(queries), tuple(sends), tuple(unknown), tuple(finalizes))


def settle_next(result: StepResult) -> tuple[str, ...]:
    """After a FUND, the settle step (from the step table)."""
    if result.state is IntentState.FUNDED:
        step = step_for(IntentState.FUNDED, external=True)
        return (step.value,) if step else ()
    return ()


__all__ = [
    "AnswerResult", "SendOrder", "Sweep", "begin_send", "decide", "finalize_target", "query_target",
    "record_answer", "record_created", "record_finalized", "record_send_lost", "record_send_refused", "sweep",
]
