"""The operator console's accounts and actions (issue 12).

Operators are not members: a table of their own, a random key (argon2id, as members'
keys) and a TOTP second factor (RFC 6238, pyotp), a role (`operador` or `supervisor`),
a lockout after `lockout_threshold` failures. A code is accepted once: the step it
belongs to is stored, and a code of that step or an earlier one is refused.

Every action is one transaction that writes its `operator_actions` row with what it
changes. Changes to money are requests: they take effect only when a different operator
with the supervisor role approves them, and the approval calls the reversal in the same
transaction as it marks the request approved (four eyes)."""
from __future__ import annotations

import enum
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pyotp
from sqlalchemy import select
from sqlalchemy.orm import Session

from domain.hashing import hash_secret, verify_secret
from domain.payment_states import IntentState
from domain.payment_steps import OPEN_STATES

from .models import (
    Operator,
    OperatorAction,
    OperatorRequest,
    OperatorRole,
    PaymentIntent,
    PseState,
    PseTransaction,
    FundingAttempt,
    RequestKind,
    RequestState,
    ReviewItem,
    ReviewState,
)

USERNAME = re.compile(r"^[a-z][a-z0-9._-]{2,39}$")
KEY_BYTES = 18  # 24 URL-safe characters, 144 bits
TOTP_ISSUER = "Cooperativa Alianza - Consola"
TOTP_DRIFT_STEPS = 1  # the step before and after too: clocks and typing take time
REASON_MIN, REASON_MAX = 10, 1000
IP_MAX, USER_AGENT_MAX = 45, 300

ACTION_LABELS: dict[str, str] = {
    "login_succeeded": "Ingreso a la consola",
    "login_failed": "Intento de ingreso fallido",
    "account_locked": "Cuenta bloqueada por intentos fallidos",
    "totp_enrolled": "Segundo factor inscrito",
    "logout": "Salida de la consola",
    "pse_query_now": "Consulta a PSE solicitada",
    "step_redriven": "Paso del pago reimpulsado",
    "review_resolved": "Ítem de revisión resuelto",
    "reversal_requested": "Reversión solicitada",
    "refund_requested": "Devolución a ahorros solicitada",
    "request_approved": "Solicitud aprobada",
    "request_rejected": "Solicitud rechazada",
}
REQUEST_LABELS = {RequestKind.REVERSAL.value: "Reversión del pago",
                  RequestKind.REFUND_TO_SAVINGS.value: "Devolución a ahorros"}


class ConsoleError(Exception):
    """Refused: `message` is Spanish for the operator, `http_status` for the web."""

    def __init__(self, message: str, http_status: int = 422) -> None:
        super().__init__(message)
        self.message = message
        self.http_status = http_status


@dataclass(frozen=True, slots=True)
class Actor:
    """The operator acting, as the web request saw them."""

    operator_id: int
    ip: str | None = None
    user_agent: str | None = None


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


# ------------------------------------------------------------------ accounts

def new_key() -> str:
    return secrets.token_urlsafe(KEY_BYTES)


def create_operator(session: Session, username: str, role: str) -> tuple[int, str]:
    """A new operator and their first key (returned once, never stored in clear)."""
    username = username.strip().lower()
    if not USERNAME.match(username):
        raise ConsoleError("El usuario debe tener de 3 a 40 caracteres: minúsculas, dígitos, punto, guion o guion bajo,"
                           " y empezar por una letra")
    if role not in {r.value for r in OperatorRole}:
        raise ConsoleError("El rol debe ser operador o supervisor")
    if session.execute(select(Operator.id).where(Operator.username == username)).first():
        raise ConsoleError(f"Ya existe un operador con el usuario {username}", 409)
    key = new_key()
    operator = Operator(username=username, key_hash=hash_secret(key), role=role)
    session.add(operator)
    session.flush()
    return operator.id, key


def disable_operator(session: Session, username: str) -> None:
    """Someone who leaves: no login from now on, and their open sessions end at their next
    request (the console reads `active` on every request). Rows stay: the audit names them."""
    operator = session.execute(select(Operator).where(Operator.username == username.strip().lower())
                               .with_for_update()).scalar_one_or_none()
    if operator is None:
        raise ConsoleError(f"No existe un operador con el usuario {username}", 404)
    operator.active = False


class LoginResult(enum.Enum):
    SUCCEEDED = "succeeded"
    ENROL = "enrol"          # the key was right; the second factor is still to be inscribed
    FAILED = "failed"
    REUSED_CODE = "reused"   # a code already used (same or earlier step)
    LOCKED_NOW = "locked_now"
    LOCKED = "locked"


@dataclass(frozen=True, slots=True)
class LoginOutcome:
    result: LoginResult
    operator_id: int | None = None
    role: str | None = None
    username: str | None = None
    locked_until: datetime | None = None


def _code_step(secret: str, code: str, now: datetime) -> int | None:
    """The 30-second step whose code `code` is (within the drift allowed), or None."""
    if not re.fullmatch(r"\d{6}", code or ""):
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    for offset in range(-TOTP_DRIFT_STEPS, TOTP_DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(current + offset), code):
            return current + offset
    return None


def authenticate(session: Session, username: str, key: str, code: str, *, ip: str | None,
                 user_agent: str | None, lockout_threshold: int, lockout_duration_s: int,
                 now: datetime | None = None) -> LoginOutcome:
    """Key and code checked together (a wrong code costs a try as a wrong key does); the
    row is locked so two logins at once cannot both use one code. The caller commits."""
    now = now or utcnow()
    username = (username or "").strip().lower()
    operator = None
    if USERNAME.match(username):
        operator = session.execute(
            select(Operator).where(Operator.username == username).with_for_update()).scalar_one_or_none()
    if operator is None or not operator.active:
        verify_secret(None, key or "")  # the same work as for an operator
        _record(session, None, "login_failed", ip, user_agent, detail={"username": username[:40]})
        return LoginOutcome(LoginResult.FAILED)
    if operator.locked_until is not None and operator.locked_until > now:
        _record(session, operator.id, "login_failed", ip, user_agent, detail={"why": "locked"})
        return LoginOutcome(LoginResult.LOCKED, operator.id, locked_until=operator.locked_until)
    key_ok = verify_secret(operator.key_hash, key or "")
    enrolled = operator.totp_enrolled_at is not None
    step = _code_step(operator.totp_secret, code, now) if enrolled and operator.totp_secret else None
    reused = step is not None and operator.totp_last_step is not None and step <= operator.totp_last_step
    if key_ok and (not enrolled or (step is not None and not reused)):
        operator.failed_attempts = 0
        operator.locked_until = None
        if enrolled:
            operator.totp_last_step = step
            operator.last_login_at = now
            operator.last_login_ip = (ip or "")[:IP_MAX] or None
            _record(session, operator.id, "login_succeeded", ip, user_agent)
            return LoginOutcome(LoginResult.SUCCEEDED, operator.id, operator.role, operator.username)
        return LoginOutcome(LoginResult.ENROL, operator.id, operator.role, operator.username)
    operator.failed_attempts += 1
    why = "reused_code" if key_ok and reused else ("wrong_code" if key_ok else "wrong_key")
    _record(session, operator.id, "login_failed", ip, user_agent, detail={"why": why})
    if operator.failed_attempts >= lockout_threshold:
        operator.locked_until = now + timedelta(seconds=lockout_duration_s)
        operator.failed_attempts = 0
        _record(session, operator.id, "account_locked", ip, user_agent)
        return LoginOutcome(LoginResult.LOCKED_NOW, operator.id, locked_until=operator.locked_until)
    return LoginOutcome(LoginResult.REUSED_CODE if why == "reused_code" else LoginResult.FAILED, operator.id)


def draw_totp_secret(session: Session, operator_id: int) -> str:
    """A new secret for the enrolment page: each showing draws another, so a QR code is
    good only while it is the last one shown. Refused once enrolled."""
    operator = session.get(Operator, operator_id, with_for_update=True)
    if operator is None or operator.totp_enrolled_at is not None:
        raise ConsoleError("El segundo factor ya está inscrito", 409)
    operator.totp_secret = pyotp.random_base32()
    return operator.totp_secret


def provisioning_uri(secret: str, username: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=TOTP_ISSUER)


def finish_enrolment(session: Session, actor: Actor, code: str, *, lockout_threshold: int = 5,
                     lockout_duration_s: int = 900, now: datetime | None = None) -> LoginResult:
    """SUCCEEDED (inscribed and logged in), FAILED (wrong code, counted as a failed
    login) or LOCKED_NOW: the enrolment page is no way around the lockout."""
    now = now or utcnow()
    operator = session.get(Operator, actor.operator_id, with_for_update=True)
    if operator is None or operator.totp_enrolled_at is not None or not operator.totp_secret:
        raise ConsoleError("El segundo factor ya está inscrito", 409)
    if operator.locked_until is not None and operator.locked_until > now:
        return LoginResult.LOCKED
    step = _code_step(operator.totp_secret, code, now)
    if step is None:
        operator.failed_attempts += 1
        _record(session, operator.id, "login_failed", actor.ip, actor.user_agent, detail={"why": "enrolment_code"})
        if operator.failed_attempts >= lockout_threshold:
            operator.locked_until = now + timedelta(seconds=lockout_duration_s)
            operator.failed_attempts = 0
            _record(session, operator.id, "account_locked", actor.ip, actor.user_agent)
            return LoginResult.LOCKED_NOW
        return LoginResult.FAILED
    operator.failed_attempts = 0
    operator.totp_enrolled_at = now
    operator.totp_last_step = step
    operator.last_login_at = now
    operator.last_login_ip = (actor.ip or "")[:IP_MAX] or None
    _record(session, operator.id, "totp_enrolled", actor.ip, actor.user_agent)
    _record(session, operator.id, "login_succeeded", actor.ip, actor.user_agent)
    return LoginResult.SUCCEEDED


def operator_username(session: Session, operator_id: int) -> str:
    return session.execute(select(Operator.username).where(Operator.id == operator_id)).scalar_one()


def operator_role(session: Session, operator_id: int) -> str | None:
    """The role in force now (read on every request: a change takes effect at once)."""
    row = session.execute(select(Operator.role, Operator.active).where(Operator.id == operator_id)).first()
    return row.role if row and row.active else None


# ------------------------------------------------------------------ the audit

def _record(session: Session, operator_id: int | None, kind: str, ip: str | None, user_agent: str | None, *,
            reason: str | None = None, payment_intent_id: int | None = None, review_item_id: int | None = None,
            request_id: int | None = None, detail: dict[str, Any] | None = None) -> None:
    assert kind in ACTION_LABELS, kind
    session.add(OperatorAction(
        operator_id=operator_id, kind=kind, ip=(ip or "")[:IP_MAX] or None,
        user_agent=(user_agent or "")[:USER_AGENT_MAX] or None, reason=reason,
        payment_intent_id=payment_intent_id, review_item_id=review_item_id, request_id=request_id,
        detail=detail or {}))
    session.flush()


def record_logout(session: Session, actor: Actor) -> None:
    _record(session, actor.operator_id, "logout", actor.ip, actor.user_agent)


def clean_reason(reason: str | None, *, what: str = "el motivo") -> str:
    text = " ".join((reason or "").split())
    if len(text) < REASON_MIN:
        raise ConsoleError(f"Escriba {what} (al menos {REASON_MIN} caracteres)")
    if len(text) > REASON_MAX:
        raise ConsoleError(f"{what.capitalize()} no puede pasar de {REASON_MAX} caracteres")
    return text


# ------------------------------------------------------------------ actions

def _locked_intent(session: Session, intent_id: int) -> PaymentIntent:
    intent = session.get(PaymentIntent, intent_id, with_for_update=True)
    if intent is None:
        raise ConsoleError("El pago indicado no existe", 404)
    return intent


def prepare_query_now(session: Session, actor: Actor, intent_id: int, reason: str) -> int:
    """Audits the query and returns the PSE transaction to query once committed."""
    reason = clean_reason(reason)
    _locked_intent(session, intent_id)
    row = session.execute(
        select(PseTransaction.id, PseTransaction.state)
        .join(FundingAttempt, FundingAttempt.id == PseTransaction.attempt_id)
        .where(FundingAttempt.intent_id == intent_id)
        .order_by(PseTransaction.id.desc())).first()
    if row is None:
        raise ConsoleError("Este pago no tiene transacción PSE", 409)
    if row.state != PseState.PENDING.value:
        raise ConsoleError(f"La transacción PSE está en {row.state}: solo se consulta una transacción PENDING", 409)
    _record(session, actor.operator_id, "pse_query_now", actor.ip, actor.user_agent, reason=reason,
            payment_intent_id=intent_id, detail={"pse_transaction_id": row.id})
    return int(row.id)


def prepare_redrive(session: Session, actor: Actor, intent_id: int, reason: str) -> str:
    """Audits the re-drive and returns the step to enqueue once committed (the step
    itself checks the state again, so a stale nudge does nothing)."""
    from .payments.processing import has_external_funding, step_for

    reason = clean_reason(reason)
    intent = _locked_intent(session, intent_id)
    if intent.state not in OPEN_STATES:
        raise ConsoleError(f"El pago está {intent.state.value}: no tiene un paso pendiente", 409)
    step = step_for(intent.state, external=has_external_funding(session, intent_id))
    if step is None:
        raise ConsoleError("El pago no tiene un paso pendiente", 409)
    step_name = getattr(step, "value", step)
    _record(session, actor.operator_id, "step_redriven", actor.ip, actor.user_agent, reason=reason,
            payment_intent_id=intent_id, detail={"step": step_name, "state": intent.state.value})
    return str(step_name)


def resolve_review_item(session: Session, actor: Actor, item_id: int, resolution: str,
                        *, now: datetime | None = None) -> None:
    resolution = clean_reason(resolution, what="la resolución")
    item = session.get(ReviewItem, item_id, with_for_update=True)
    if item is None:
        raise ConsoleError("El ítem de revisión no existe", 404)
    if item.state != ReviewState.OPEN.value:
        raise ConsoleError("El ítem de revisión ya está resuelto", 409)
    item.state = ReviewState.RESOLVED.value
    item.resolved_at = now or utcnow()
    _record(session, actor.operator_id, "review_resolved", actor.ip, actor.user_agent, reason=resolution,
            payment_intent_id=item.payment_intent_id, review_item_id=item.id)


def parse_amount(value: str | None) -> Decimal:
    """Pesos as an operator types them: digits, optionally thousands separated by dots or
    commas as shown ($1,234,567.00 → 1234567.00); at most two decimals, above zero."""
    raw = (value or "").strip().replace("$", "").replace(" ", "")
    if not re.fullmatch(r"\d{1,3}(,\d{3})*(\.\d{1,2})?|\d{1,15}(\.\d{1,2})?", raw):
        raise ConsoleError("Escriba el valor en pesos, por ejemplo 150000 o 150,000.00")
    amount = Decimal(raw.replace(",", ""))
    if amount <= 0:
        raise ConsoleError("El valor debe ser mayor que cero")
    return amount


def request_change(session: Session, actor: Actor, intent_id: int, kind: str, reason: str, *,
                   amount: str | None = None, review_item_id: str | None = None) -> int:
    """A reversal (of an applied payment) or a refund to savings (of money of this payment
    that reached the cooperative and was not applied: an amount up to the payment's total,
    optionally settling one of its review items) asked for. Nothing about the payment
    changes until a supervisor other than the asker approves it."""
    if kind not in {k.value for k in RequestKind}:
        raise ConsoleError("Tipo de solicitud no válido")
    reason = clean_reason(reason)
    money: Decimal | None = None
    item_id: int | None = None
    if kind == RequestKind.REFUND_TO_SAVINGS.value:
        money = parse_amount(amount)
        if (review_item_id or "").strip():
            if not re.fullmatch(r"\d{1,18}", review_item_id.strip()):
                raise ConsoleError("El ítem de revisión indicado no es válido")
            item_id = int(review_item_id.strip())
    intent = _locked_intent(session, intent_id)
    if kind == RequestKind.REVERSAL.value and intent.state != IntentState.APPLIED:
        raise ConsoleError(f"Solo se puede pedir la reversión de un pago aplicado; este está {intent.state.value}", 409)
    if money is not None and money > intent.total_amount:
        raise ConsoleError("El valor de la devolución no puede superar el valor del pago")
    if item_id is not None:
        item = session.get(ReviewItem, item_id)
        if item is None or item.payment_intent_id != intent_id or item.state != ReviewState.OPEN.value:
            raise ConsoleError("El ítem de revisión indicado no es un ítem abierto de este pago")
    pending = session.execute(select(OperatorRequest.id).where(
        OperatorRequest.payment_intent_id == intent_id,
        OperatorRequest.state == RequestState.PENDING.value)).first()
    if pending:
        raise ConsoleError(f"Ya hay una solicitud pendiente para este pago (n.º {pending.id})", 409)
    request = OperatorRequest(kind=kind, payment_intent_id=intent_id, requested_by=actor.operator_id, reason=reason,
                              amount=money, review_item_id=item_id)
    session.add(request)
    session.flush()
    detail: dict[str, Any] = {"kind": kind}
    if money is not None:
        detail["amount"] = str(money)
    _record(session, actor.operator_id,
            "reversal_requested" if kind == RequestKind.REVERSAL.value else "refund_requested",
            actor.ip, actor.user_agent, reason=reason, payment_intent_id=intent_id, request_id=request.id,
            review_item_id=item_id, detail=detail)
    return request.id


def _decidable(session: Session, actor: Actor, request_id: int) -> tuple[OperatorRequest, Operator]:
    request = session.get(OperatorRequest, request_id, with_for_update=True)
    if request is None:
        raise ConsoleError("La solicitud no existe", 404)
    decider = session.get(Operator, actor.operator_id)
    if decider is None or not decider.active or decider.role != OperatorRole.SUPERVISOR.value:
        raise ConsoleError("Solo un supervisor puede aprobar o rechazar solicitudes", 403)
    if request.requested_by == decider.id:
        raise ConsoleError("Nadie puede aprobar ni rechazar su propia solicitud: debe hacerlo otro supervisor", 403)
    if request.state != RequestState.PENDING.value:
        raise ConsoleError("La solicitud ya fue decidida", 409)
    return request, decider


def approve_request(session: Session, actor: Actor, request_id: int, reason: str,
                    *, now: datetime | None = None) -> None:
    """Four eyes: a different supervisor approves; the reversal or refund runs in this
    same transaction, so the request is approved if and only if the money moved."""
    from .payments import reversals

    reason = clean_reason(reason)
    request, decider = _decidable(session, actor, request_id)
    asker = operator_username(session, request.requested_by)
    who = {"requested_by": asker, "approved_by": decider.username, "reason": request.reason, "ip": actor.ip or ""}
    try:
        if request.kind == RequestKind.REVERSAL.value:
            result = reversals.reverse_applied_intent(session, request.payment_intent_id, **who)
            outcome = {"reversed_now": result.reversed_now, "entries": list(result.reversal_entry_ids)}
        else:
            assert request.amount is not None
            refund = reversals.refund_to_savings(
                session, intent_id=request.payment_intent_id, amount=request.amount,
                request_key=f"operator-request:{request.id}", review_item_id=request.review_item_id, **who)
            outcome = {"refunded_now": refund.refunded_now, "entry": refund.journal_entry_id,
                       "savings_account_id": refund.savings_account_id, "amount": str(refund.amount)}
    except reversals.ReversalError as exc:
        # Refused having written nothing (their contract); the caller's rollback keeps it so.
        raise ConsoleError(exc.message, int(getattr(exc, "http_status", 409))) from exc
    request.state = RequestState.APPROVED.value
    request.decided_by = decider.id
    request.decided_at = now or utcnow()
    request.decision_reason = reason
    _record(session, decider.id, "request_approved", actor.ip, actor.user_agent, reason=reason,
            payment_intent_id=request.payment_intent_id, request_id=request.id,
            review_item_id=request.review_item_id, detail={"kind": request.kind, **outcome})
    if request.review_item_id is not None:
        # refund_to_savings resolved the item in this transaction; its resolution is this.
        _record(session, decider.id, "review_resolved", actor.ip, actor.user_agent,
                reason=f"Devolución a ahorros aprobada (solicitud {request.id}): {reason}",
                payment_intent_id=request.payment_intent_id, review_item_id=request.review_item_id,
                request_id=request.id)


def reject_request(session: Session, actor: Actor, request_id: int, reason: str,
                   *, now: datetime | None = None) -> None:
    reason = clean_reason(reason)
    request, decider = _decidable(session, actor, request_id)
    request.state = RequestState.REJECTED.value
    request.decided_by = decider.id
    request.decided_at = now or utcnow()
    request.decision_reason = reason
    _record(session, decider.id, "request_rejected", actor.ip, actor.user_agent, reason=reason,
            payment_intent_id=request.payment_intent_id, request_id=request.id, detail={"kind": request.kind})


__all__ = ["ACTION_LABELS", "Actor", "ConsoleError", "LoginOutcome", "LoginResult", "REQUEST_LABELS",
           "approve_request", "authenticate", "disable_operator", "clean_reason", "create_operator", "draw_totp_secret",
           "finish_enrolment", "new_key", "operator_role", "operator_username", "prepare_query_now", "prepare_redrive",
           "provisioning_uri", "record_logout", "reject_request", "request_change", "resolve_review_item"]
