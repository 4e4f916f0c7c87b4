"""The one-time code "Finalizar" asks for above `payment_otp_threshold_cop`.

Six digits, sent by SMS or e-mail through the outbox the way the login's temporary key is:
the outbox row holds a placeholder and the code travels only in the task's (redacted)
arguments. The session keeps the argon2 hash, the expiry and the idempotency key the code
was issued for: it confirms that one payment, once, before it expires, and a few wrong
tries void it.
"""
from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from db import outbox
from db.engine import session_scope
from db.models import Member
from domain.bogota_calendar import BOGOTA
from domain.hashing import hash_secret, verify_secret
from domain.masking import mask_email, mask_mobile

from . import queue

SESSION_KEY = "pagos_codigo"
CODE_DIGITS = 6
MAX_WRONG = 3
MAX_SENDS_PER_KEY = 3
CHANNELS = {"sms": "mensaje de texto (SMS)", "email": "correo electrónico"}
SUBJECT = "Código de confirmación de su pago"
SIGNATURE = "Cooperativa Alianza\nEste es un mensaje automático, por favor no lo respondas."

MSG_CHANNEL = "Seleccione si desea recibir el código por SMS o por correo electrónico"
MSG_TOO_MANY_SENDS = "Ya se enviaron varios códigos para este pago; espere unos minutos o vuelva a empezar el pago"
MSG_REQUEST_FIRST = "Solicite el código de confirmación antes de finalizar"
MSG_EXPIRED = "El código de confirmación venció; solicite uno nuevo"
MSG_FORMAT = "Ingrese el código de confirmación de 6 dígitos que le enviamos"
MSG_WRONG = "El código de confirmación no es correcto"
MSG_VOIDED = "El código de confirmación no es correcto y se anuló por seguridad; solicite uno nuevo"


class OtpError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class SentCode:
    channel: str
    masked_recipient: str
    expires_at: float


def pending(session: dict[str, Any], key: str) -> SentCode | None:
    """The code waiting for this payment (for the page: where it went, until when)."""
    stored = session.get(SESSION_KEY)
    if not stored or stored.get("key") != key:
        return None
    return SentCode(stored["channel"], stored["masked"], float(stored["expires_at"]))


def _message_body(channel: str, name: str, total_text: str, ttl_s: int, expires_at: float) -> str:
    minutes = max(1, ttl_s // 60)
    until = datetime.fromtimestamp(expires_at, timezone.utc).astimezone(BOGOTA).strftime("%H:%M")
    if channel == "sms":
        return (f"Cooperativa Alianza: su codigo para confirmar el pago de {total_text} es "
                f"{outbox.SECRET_PLACEHOLDER}. Vence en {minutes} min. No lo comparta.")
    return (
        f"Hola {name}:\n\n"
        f"Para confirmar su pago de {total_text} en la Zona Privada de Asociados, ingrese este código: "
        f"{outbox.SECRET_PLACEHOLDER}\n\n"
        f"Es válido por {minutes} minutos (hasta las {until}, hora de Bogotá) y sirve una sola vez.\n\n"
        "Si usted no está haciendo un pago, no comparta este código y comuníquese con la cooperativa.\n\n"
        + SIGNATURE
    )


def send(session: dict[str, Any], *, member_id: int, key: str, channel: str, total_text: str, ttl_s: int) -> SentCode:
    """Issue a new code for `key` (replacing any earlier one) and queue it for delivery."""
    if channel not in CHANNELS:
        raise OtpError(MSG_CHANNEL)
    stored = session.get(SESSION_KEY) or {}
    sends = int(stored.get("sends", 0)) + 1 if stored.get("key") == key else 1
    if sends > MAX_SENDS_PER_KEY:
        raise OtpError(MSG_TOO_MANY_SENDS)
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    now = time.time()
    expires_at = now + ttl_s
    with session_scope() as db:
        member = db.get(Member, member_id)
        assert member is not None
        recipient = member.mobile if channel == "sms" else member.email
        masked = mask_mobile(recipient) if channel == "sms" else mask_email(recipient)
        message_id = outbox.enqueue(
            db, channel=channel, recipient=recipient, subject=SUBJECT,
            body=_message_body(channel, member.full_name, total_text, ttl_s, expires_at),
            dedupe_key=f"payotp:{member_id}:{key}:{sends}",
        )
    session[SESSION_KEY] = {"key": key, "hash": hash_secret(code), "expires_at": expires_at, "channel": channel,
                            "masked": masked, "wrong": 0, "sends": sends}
    queue.send_message(message_id, secret=code)
    return SentCode(channel, masked, expires_at)


def check(session: dict[str, Any], key: str, typed: object) -> None:
    """Accept the code for `key` once: raises OtpError (Spanish) otherwise. A correct code
    is consumed here, so it can never confirm a second submission."""
    stored = session.get(SESSION_KEY)
    if not stored or stored.get("key") != key:
        raise OtpError(MSG_REQUEST_FIRST)
    if time.time() > float(stored["expires_at"]):
        session.pop(SESSION_KEY, None)
        raise OtpError(MSG_EXPIRED)
    code = str(typed or "").strip()
    if len(code) != CODE_DIGITS or not code.isascii() or not code.isdigit():
        raise OtpError(MSG_FORMAT)
    if not verify_secret(stored["hash"], code):
        wrong = int(stored.get("wrong", 0)) + 1
        if wrong >= MAX_WRONG:
            session.pop(SESSION_KEY, None)
            raise OtpError(MSG_VOIDED)
        session[SESSION_KEY] = {**stored, "wrong": wrong}
        raise OtpError(MSG_WRONG)
    session.pop(SESSION_KEY, None)
