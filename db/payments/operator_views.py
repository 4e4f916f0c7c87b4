"""What the operator console reads (issue 12): payments by state and by what an operator
has in hand (document, intent id, CUS, receipt number), a payment's whole story, stuck
payments, pending PSE transactions, broken promises, the review queue and the four-eyes
requests. Read only; each function is a few plain statements."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from domain.payment_states import IntentState
from domain.payment_steps import OPEN_STATES, states_sql

from ..models import DOCUMENT_TYPES, PseState

LIST_LIMIT = 200
# What a search box may hold: digits (document, id, receipt), a CUS (letters, digits, dashes).
QUERY = re.compile(r"^[A-Za-z0-9-]{1,40}$")
STATES = tuple(s.value for s in IntentState if s.value != "applying")


class BadQuery(ValueError):
    """Spanish message for the operator."""


Row = dict[str, Any]


def _rows(session: Session, sql: str, **params: Any) -> list[Row]:
    return [dict(r) for r in session.execute(text(sql), params).mappings()]


_INTENT_COLUMNS = """
    p.id, p.state::text AS state, p.kind::text AS kind, p.total_amount, p.created_at, p.state_changed_at,
    p.step_deadline_at, p.applied_at, p.receipt_number, p.redrive_count, p.failure_reason,
    m.document_type, m.document_number, m.first_names || ' ' || m.last_names AS member_name"""


def search_intents(session: Session, *, query: str = "", state: str = "", limit: int = LIST_LIMIT) -> list[Row]:
    """Newest first. `query` matches the member's document, the intent id, the receipt
    number or the CUS exactly; `state` one intent state. Bad input raises BadQuery."""
    query = query.strip()
    if query and not QUERY.match(query):
        raise BadQuery("La búsqueda admite hasta 40 letras, dígitos o guiones: documento, número de pago, CUS o"
                       " número de comprobante")
    if state and state not in STATES:
        raise BadQuery("El estado elegido no existe")
    where, params = ["TRUE"], {"limit": limit}
    if state:
        where.append("p.state = CAST(:state AS intent_state)")
        params["state"] = state
    if query:
        # Each key by its own index, then the union: an OR across tables would make
        # PostgreSQL walk every intent. The document by (type, number), every type.
        number = int(query) if query.isdigit() and len(query) <= 18 else None
        where.append("""p.id IN (
            SELECT p2.id FROM members m2 JOIN payment_intents p2 ON p2.member_id = m2.id
            WHERE m2.document_type = ANY(:types) AND m2.document_number = :q
            UNION SELECT id FROM payment_intents WHERE id = :n OR receipt_number = :n
            UNION SELECT f.intent_id FROM pse_transactions t JOIN funding_attempts f ON f.id = t.attempt_id
                  WHERE t.trazability_code = :q OR t.ticket_id = :q)""")
        params.update(q=query, n=number, types=list(DOCUMENT_TYPES))
    return _rows(session, f"""
        SELECT {_INTENT_COLUMNS} FROM payment_intents p JOIN members m ON m.id = p.member_id
        WHERE {' AND '.join(where)} ORDER BY p.id DESC LIMIT :limit""", **params)


def intent_story(session: Session, intent_id: int) -> dict[str, Any] | None:
    """Everything recorded about one payment, each part in the order it happened."""
    head = _rows(session, f"""SELECT {_INTENT_COLUMNS}, p.member_id FROM payment_intents p
                              JOIN members m ON m.id = p.member_id WHERE p.id = :id""", id=intent_id)
    if not head:
        return None
    p = {"id": intent_id}
    return {
        "intent": head[0],
        "lines": _rows(session, """
            SELECT l.id, l.amount, l.prepayment_mode, o.kind::text AS obligation_kind, o.id AS obligation_id,
                   l.target_savings_account_id
            FROM payment_intent_lines l LEFT JOIN obligations o ON o.id = l.obligation_id
            WHERE l.intent_id = :id ORDER BY l.id""", **p),
        "attempts": _rows(session, """
            SELECT id, kind::text AS kind, state::text AS state, savings_account_id, amount, gmf_amount, created_at,
                   updated_at, decline_reason FROM funding_attempts WHERE intent_id = :id ORDER BY id""", **p),
        "pse": _rows(session, """
            SELECT t.* FROM pse_transactions t JOIN funding_attempts f ON f.id = t.attempt_id
            WHERE f.intent_id = :id ORDER BY t.id""", **p),
        "holds": _rows(session, """
            SELECT h.id, h.savings_account_id, h.amount, h.state::text AS state, h.created_at, h.expires_at,
                   h.resolved_at FROM holds h JOIN funding_attempts f ON f.id = h.attempt_id
            WHERE f.intent_id = :id ORDER BY h.id""", **p),
        "entries": _rows(session, """
            SELECT e.id, e.posted_at, e.kind, e.description, e.reversal_of_id, a.cuif_code, a.name AS account_name,
                   jl.debit, jl.credit
            FROM journal_entries e JOIN journal_lines jl ON jl.entry_id = e.id
            JOIN ledger_accounts a ON a.id = jl.ledger_account_id
            WHERE e.payment_intent_id = :id ORDER BY e.id, jl.id""", **p),
        "allocations": _rows(session, """
            SELECT a.id, a.obligation_id, o.kind::text AS obligation_kind, a.installment_id, a.late_interest, a.fees,
                   a.interest, a.principal, a.is_prepayment
            FROM allocations a JOIN obligations o ON o.id = a.obligation_id WHERE a.intent_id = :id
            ORDER BY a.id""", **p),
        "receipts": _rows(session, """
            SELECT id, channel, recipient, status, created_at, sent_at, attempts, last_error
            FROM notification_outbox WHERE payment_intent_id = :id ORDER BY id""", **p),
        "reviews": _rows(session, """
            SELECT r.id, r.kind, r.reason, r.amount, r.state, r.created_at, r.resolved_at,
                   (SELECT x.reason FROM operator_actions x WHERE x.review_item_id = r.id
                      AND x.kind = 'review_resolved' ORDER BY x.id DESC LIMIT 1) AS resolution
            FROM review_items r WHERE r.payment_intent_id = :id ORDER BY r.id""", **p),
        "requests": requests(session, intent_id=intent_id),
        "actions": _rows(session, """
            SELECT x.id, x.at, x.kind, x.ip, x.reason, x.detail, x.request_id, x.review_item_id, o.username, o.role
            FROM operator_actions x LEFT JOIN operators o ON o.id = x.operator_id
            WHERE x.payment_intent_id = :id ORDER BY x.at, x.id""", **p),
        "events": _rows(session, """
            SELECT at, kind, ip, detail FROM audit_events WHERE payment_intent_id = :id ORDER BY at, id""", **p),
    }


def stuck_intents(session: Session, *, now: datetime, limit: int = LIST_LIMIT) -> list[Row]:
    """Open intents past their step deadline (what the reconciler will re-drive), and
    open ones with no deadline at all (filed for review: nothing drives them)."""
    return _rows(session, f"""
        SELECT {_INTENT_COLUMNS} FROM payment_intents p JOIN members m ON m.id = p.member_id
        WHERE p.state IN ({states_sql(OPEN_STATES)}) AND (p.step_deadline_at IS NULL OR p.step_deadline_at <= :now)
        ORDER BY p.step_deadline_at NULLS FIRST, p.id LIMIT :limit""", now=now, limit=limit)


def pse_pending(session: Session, *, limit: int = LIST_LIMIT) -> list[Row]:
    """Undecided PSE transactions, with when they were last queried and are next due."""
    undecided = (PseState.CREATED, PseState.SENT, PseState.UNKNOWN, PseState.PENDING)
    return _rows(session, f"""
        SELECT t.id, t.ticket_id, t.trazability_code, t.state, t.amount, t.bank_name, t.created_at,
               t.last_query_at, t.next_poll_at, t.poll_count, t.return_code, f.intent_id,
               p.state::text AS intent_state, m.document_number
        FROM pse_transactions t JOIN funding_attempts f ON f.id = t.attempt_id
        JOIN payment_intents p ON p.id = f.intent_id JOIN members m ON m.id = p.member_id
        WHERE t.state IN ({', '.join(repr(s.value) for s in undecided)})
        ORDER BY t.next_poll_at NULLS FIRST, t.id LIMIT :limit""", limit=limit)


def promise_breaches(session: Session, *, now: datetime, promise_s: int, limit: int = LIST_LIMIT) -> list[Row]:
    """Intents not applied within the promise: applied late, or still open past it."""
    return _rows(session, f"""
        SELECT {_INTENT_COLUMNS},
               extract(epoch FROM coalesce(p.applied_at, :now) - p.created_at)::bigint AS age_s
        FROM payment_intents p JOIN members m ON m.id = p.member_id
        WHERE (p.applied_at IS NOT NULL AND p.applied_at - p.created_at > :promise)
           OR (p.state IN ({states_sql(OPEN_STATES)}) AND p.created_at <= :now - :promise)
        ORDER BY p.created_at DESC LIMIT :limit""", now=now, promise=timedelta(seconds=promise_s), limit=limit)


def review_queue(session: Session, *, state: str = "open", limit: int = LIST_LIMIT) -> list[Row]:
    if state not in ("open", "resolved"):
        raise BadQuery("El estado de revisión debe ser abierto o resuelto")
    return _rows(session, """
        SELECT r.id, r.kind, r.payment_intent_id, r.reason, r.amount, r.state, r.created_at, r.resolved_at,
               x.reason AS resolution, o.username AS resolved_by
        FROM review_items r
        LEFT JOIN LATERAL (SELECT a.reason, a.operator_id FROM operator_actions a
                           WHERE a.review_item_id = r.id AND a.kind = 'review_resolved'
                           ORDER BY a.id DESC LIMIT 1) x ON TRUE
        LEFT JOIN operators o ON o.id = x.operator_id
        WHERE r.state = :state ORDER BY r.created_at, r.id LIMIT :limit""", state=state, limit=limit)


def requests(session: Session, *, intent_id: int | None = None, state: str | None = None,
             limit: int = LIST_LIMIT) -> list[Row]:
    where = ["TRUE"]
    if intent_id is not None:
        where.append("q.payment_intent_id = :intent_id")
    if state is not None:
        where.append("q.state = :state")
    return _rows(session, f"""
        SELECT q.id, q.kind, q.payment_intent_id, q.amount, q.review_item_id, q.state, q.reason, q.requested_at, q.decided_at,
               q.decision_reason, q.requested_by, a.username AS requested_by_name, d.username AS decided_by_name,
               p.total_amount, m.document_number
        FROM operator_requests q JOIN operators a ON a.id = q.requested_by
        LEFT JOIN operators d ON d.id = q.decided_by
        JOIN payment_intents p ON p.id = q.payment_intent_id JOIN members m ON m.id = p.member_id
        WHERE {' AND '.join(where)} ORDER BY q.id DESC LIMIT :limit""",
                 intent_id=intent_id, state=state, limit=limit)


@dataclass(frozen=True, slots=True)
class OperatorListing:
    username: str
    role: str
    last_login_at: datetime | None
    enrolled: bool
    locked_until: datetime | None
    active: bool


def operators(session: Session) -> list[OperatorListing]:
    rows = session.execute(text("""SELECT username, role, last_login_at, totp_enrolled_at IS NOT NULL, locked_until,
                                          active FROM operators ORDER BY username""")).all()
    return [OperatorListing(*r) for r in rows]
