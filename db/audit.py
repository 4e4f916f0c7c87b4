"""The security audit trail: one append-only row per login, failure, lock, key sent,
key change and logout, with time, IP and user agent (DESIGN §6)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import AuditEvent

# The kinds this module writes, with the label the member reads on "Mis eventos de seguridad".
SECURITY_EVENT_LABELS: dict[str, str] = {
    "login_succeeded": "Ingreso exitoso",
    "login_failed": "Intento de ingreso fallido",
    "account_locked": "Acceso bloqueado por intentos fallidos",
    "temp_key_requested": "Solicitud de clave temporal",
    "device_code_requested": "Solicitud de código para reconocer un dispositivo",
    "temp_key_sent": "Clave temporal enviada",
    "password_changed": "Cambio de clave",
    "security_choice_changed": "Cambio de imagen y frase de seguridad",
    "data_consent_accepted": "Aceptación del aviso de tratamiento de datos",
    "logout": "Salida de la zona privada",
    "session_replaced": "Sesión cerrada por un nuevo ingreso",
    "document_issued": "Emisión de certificado o estado de cuenta",
    "personal_data_changed": "Cambio de datos personales",
    "personal_data_key_failed": "Clave incorrecta al cambiar datos personales",
}

USER_AGENT_MAX = 300
IP_MAX = 45


@dataclass(frozen=True, slots=True)
class Requester:
    """Who is asking, as the web request saw it."""

    ip: str | None
    user_agent: str | None


def record(session: Session, kind: str, requester: Requester | None, *, member_id: int | None = None,
           **detail: Any) -> AuditEvent:
    if kind not in SECURITY_EVENT_LABELS:
        raise ValueError(f"unknown security event kind {kind!r}")
    event = AuditEvent(
        kind=kind,
        member_id=member_id,
        ip=(requester.ip or "")[:IP_MAX] or None if requester else None,
        user_agent=(requester.user_agent or "")[:USER_AGENT_MAX] or None if requester else None,
        detail=detail,
    )
    session.add(event)
    session.flush()
    return event


@dataclass(frozen=True, slots=True)
class SecurityEventView:
    at: datetime
    kind: str
    label: str
    ip: str | None
    user_agent: str | None


def recent_security_events(session: Session, member_id: int, limit: int = 30) -> list[SecurityEventView]:
    """The member's own security events, newest first; only the kinds listed above."""
    rows = session.execute(
        select(AuditEvent)
        .where(AuditEvent.member_id == member_id, AuditEvent.kind.in_(tuple(SECURITY_EVENT_LABELS)))
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        .limit(limit)
    ).scalars()
    return [
        SecurityEventView(at=r.at, kind=r.kind, label=SECURITY_EVENT_LABELS[r.kind], ip=r.ip, user_agent=r.user_agent)
        for r in rows
    ]
