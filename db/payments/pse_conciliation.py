"""The daily conciliation with PSE, against the database (issue 10 §5). The comparison
rules are pure (domain/pse_conciliation.py); this loads our side, acts on what the file
decides and files every mismatch in the review queue.

- An undecided transaction of ours (a create whose answer was lost, one still pending)
  that the file decides is decided exactly as a query answer would (db/payments/pse.py
  `decide`): applied, released, or a late approval. One whose amount differs there is
  not acted on: it is a mismatch for a person.
- A file lists what was decided on its day, so a create sent just before midnight may be
  decided after it. On a closed day D (`final`), a create of ours sent on D-1 that is
  still unknown and absent from both D-1's file (`earlier_tickets`) and D's never
  reached PSE: its attempt is declined (the intent released if it still waits) and the
  case is reviewed.
- Every mismatch (approved there and rejected here, amounts or CUS that differ, one of
  theirs we never created, one of ours decided that day missing there) is filed.
"""
from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import text
from sqlalchemy.orm import Session

from domain.bogota_calendar import BOGOTA
from domain.pse_conciliation import (
    UNDECIDED_HERE,
    ConciliationFileError,
    MismatchKind,
    OurTransaction,
)
from domain.pse_conciliation import reconcile as compare_file
from zona_privada.settings import Settings, get_settings

from ..models import PseState, ReviewKind, ReviewState
from .intents import utcnow
from .late_approvals import file_review
from .processing import _audit
from .pse import _locked, _release, decide, settle_next

log = logging.getLogger(__name__)

_OURS_SQL = text("""
    SELECT t.id, t.ticket_id, t.trazability_code, t.amount, t.state, t.answered_at, f.intent_id
    FROM pse_transactions t JOIN funding_attempts f ON f.id = t.attempt_id
    WHERE t.ticket_id = ANY(:tickets)
       OR (t.answered_at >= :day_start AND t.answered_at < :day_end)
       OR (t.state IN ('SENT', 'UNKNOWN', 'PENDING') AND t.sent_at < :day_end)""")

# A mismatch with no intent of ours (PSE names a ticket we never created) is filed once
# per ticket: the unique open index is per intent and NULLs never collide.
_OPEN_FOR_TICKET_SQL = text(f"""
    SELECT EXISTS (SELECT 1 FROM review_items WHERE state = '{ReviewState.OPEN.value}' AND kind = :kind
                   AND detail->>'ticket_id' = :ticket)""")


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min, tzinfo=BOGOTA).astimezone(timezone.utc)
    return start, start + timedelta(days=1)


def conciliate(session: Session, day: date, content: str, *, final: bool, return_code: str = "SUCCESS",
               earlier_tickets: frozenset[int] = frozenset(), now: datetime | None = None,
               settings: Settings | None = None) -> dict[str, object]:
    """Compare `content` (the day's file) with our transactions and act. The caller
    commits, then enqueues `follow_up` (settle steps, finalizes)."""
    settings = settings or get_settings()
    now = now or utcnow()
    follow: dict[str, list[object]] = {"steps": [], "finalize": []}
    try:
        from domain.pse_conciliation import parse

        rows, _bad = parse(content)
    except ConciliationFileError as exc:
        file_review(session, kind=ReviewKind.CONCILIATION_MISMATCH, intent_id=None, amount=None,
                    reason=f"Archivo de conciliación de {day.isoformat()} ilegible: {exc}",
                    detail={"day": day.isoformat(), "ticket_id": f"archivo:{day.isoformat()}"})
        return {"error": str(exc), "follow_up": follow}
    day_start, day_end = _day_bounds(day)
    ours_rows = session.execute(_OURS_SQL, {"tickets": [str(r.ticket_id) for r in rows], "day_start": day_start,
                                            "day_end": day_end}).all()
    by_ticket = {int(r.ticket_id): r for r in ours_rows}
    ours = [OurTransaction(ticket_id=int(r.ticket_id), cus=r.trazability_code, amount=r.amount, state=r.state,
                           decided_on=r.answered_at.astimezone(BOGOTA).date() if r.answered_at else None)
            for r in ours_rows]
    outcome = compare_file(content, ours, day)
    differing = {m.ticket_id for m in outcome.mismatches if m.kind is MismatchKind.AMOUNT_DIFFERS}
    resolved = 0
    for resolution in outcome.resolutions:
        mine = by_ticket.get(resolution.ticket_id)
        if mine is None or resolution.ticket_id in differing:
            continue
        found = _locked(session, mine.id)
        if found is None:
            continue
        intent, tx = found
        if tx.state.value not in UNDECIDED_HERE:
            continue  # a query decided it meanwhile
        was_unknown = tx.state in (PseState.UNKNOWN, PseState.SENT)
        answer = decide(session, intent, tx, resolution.state, now=now, settings=settings, cus=resolution.cus)
        _audit(session, intent, "pse_resolved_by_conciliation", {
            "pse_transaction_id": tx.id, "state": resolution.state, "cus": resolution.cus,
            "was": tx.state.value, "day": day.isoformat()})
        if was_unknown:
            file_review(session, kind=ReviewKind.UNKNOWN_CREATE_RESOLVED, intent_id=intent.id, amount=tx.amount,
                        reason=f"Creación sin respuesta resuelta por la conciliación: {resolution.state} "
                               f"(CUS {resolution.cus})",
                        detail={"pse_transaction_id": tx.id, "cus": resolution.cus, "state": resolution.state})
        follow["steps"].extend((step, intent.id) for step in settle_next(answer.step))
        if answer.finalize:
            follow["finalize"].append(tx.id)
        resolved += 1
    never_reached = 0
    if final:
        listed = {r.ticket_id for r in rows} | earlier_tickets
        sent_from, sent_until = _day_bounds(day - timedelta(days=1))
        for mine in ours_rows:
            if mine.state not in (PseState.UNKNOWN.value, PseState.SENT.value) or int(mine.ticket_id) in listed:
                continue
            found = _locked(session, mine.id)
            if found is None:
                continue
            intent, tx = found
            if (tx.state not in (PseState.UNKNOWN, PseState.SENT) or not tx.sent_at
                    or not sent_from <= tx.sent_at < sent_until):
                continue
            session.execute(text(f"UPDATE pse_transactions SET state = '{PseState.NOT_CREATED.value}', "
                                 "return_code = 'AUSENTE_CONCILIACION', answered_at = :now WHERE id = :id"),
                            {"id": tx.id, "now": now})
            _release(session, intent, "La transacción no llegó a PSE (conciliación)", now)
            file_review(session, kind=ReviewKind.UNKNOWN_CREATE_RESOLVED, intent_id=intent.id, amount=tx.amount,
                        reason=f"Creación sin respuesta ausente de la conciliación del "
                               f"{(day - timedelta(days=1)).isoformat()} y del {day.isoformat()}: no llegó a PSE",
                        detail={"pse_transaction_id": tx.id, "ticket_id": tx.ticket_id})
            never_reached += 1
    filed = 0
    for mismatch in outcome.mismatches:
        mine = by_ticket.get(mismatch.ticket_id) if mismatch.ticket_id is not None else None
        detail = {"mismatch": mismatch.kind.value, "ticket_id": str(mismatch.ticket_id), "day": day.isoformat(),
                  "ours_amount": mismatch.ours_amount, "theirs_amount": mismatch.theirs_amount,
                  "our_state": mismatch.our_state, "their_state": mismatch.their_state}
        if mine is None and session.execute(_OPEN_FOR_TICKET_SQL, {
                "kind": ReviewKind.CONCILIATION_MISMATCH.value, "ticket": str(mismatch.ticket_id)}).scalar_one():
            continue
        file_review(session, kind=ReviewKind.CONCILIATION_MISMATCH, intent_id=mine.intent_id if mine else None,
                    amount=mismatch.ours_amount or mismatch.theirs_amount,
                    reason=f"Conciliación PSE {day.isoformat()}: {mismatch.detail}", detail=detail)
        filed += 1
    log.info("pse conciliation done", extra={"day": day.isoformat(), "rows": len(rows), "resolved": resolved,
                                             "mismatches": filed, "never_reached": never_reached})
    return {"rows": len(rows), "resolved": resolved, "mismatches": filed, "never_reached": never_reached,
            "return_code": return_code, "follow_up": follow}


__all__ = ["conciliate"]
