"""The one-time code "Finalizar" asks for above `payment_otp_threshold_cop`.

Six digits, sent by SMS or e-mail through the outbox the way the login's temporary key is:
the outbox row holds a placeholder; the worker draws the code, stores its argon2 hash in
the code's Redis record and puts the code in the text just before delivery, so the code
is never in the web, the broker or Redis in clear. The record (integrations.one_time_codes)
belongs to one member and one idempotency key: it confirms that one payment, once, before
it expires; every limit on it (tries, sends per payment, sends per member and day) is an
atomic Redis counter, so parallel requests cannot reset or multiply them.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from flask import current_app

from db import outbox
from db.engine import session_scope
from db.models import Member
from domain.bogota_calendar import BOGOTA
from domain.hashing import verify_secret
from domain.masking import mask_email, mask_mobile
from integrations.one_time_codes import CODE_DIGITS, CapReached, CodeStore
from webapp.sessions import MEMBER_ID

log = logging.getLogger(__name__)

MAX_WRONG = 3
MAX_SENDS_PER_KEY = 3
CHANNELS = {"sms": "mensaje de texto (SMS)", "email": "correo electrónico"}
SUBJECT = "Código de confirmación de su pago"
SIGNATURE = "Cooperativa Alianza\nEste es un mensaje automático, por favor no lo respondas."

MSG_CHANNEL = "Seleccione si desea recibir el código por SMS o por correo electrónico"
MSG_TOO_MANY_SENDS = "Ya se enviaron varios códigos para este pago; espere unos minutos o vuelva a empezar el pago"
MSG_DAILY_CAP = ("Por seguridad, hoy ya se enviaron todos los códigos de confirmación permitidos para su cuenta; "
                 "intente de nuevo mañana o comuníquese con la cooperativa")
MSG_NOT_YET = "El código de confirmación se está enviando; espere unos segundos e ingréselo cuando lo reciba"
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


def _store() -> CodeStore:
    return CodeStore(current_app.session_interface.client)


def _member(session: Any) -> int | None:
    value = session.get(MEMBER_ID)
    return int(value) if value is not None else None


def pending(session: dict[str, Any], key: str) -> SentCode | None:
    """The code waiting for this payment (for the page: where it went, until when)."""
    member_id = _member(session)
    record = _store().pending(member_id, key) if member_id is not None else None
    if record is None:
        return None
    return SentCode(record.channel, record.masked, record.expires_at)


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
    from workers.notification_tasks import enqueue_send

    if channel not in CHANNELS:
        raise OtpError(MSG_CHANNEL)
    now = time.time()
    expires_at = now + ttl_s
    settings = current_app.config["ZONA_SETTINGS"]
    with session_scope() as db:
        member = db.get(Member, member_id)
        assert member is not None
        recipient = member.mobile if channel == "sms" else member.email
        masked = mask_mobile(recipient) if channel == "sms" else mask_email(recipient)
        try:
            reference = _store().open(
                member_id, key, day=datetime.now(BOGOTA).date().isoformat(), channel=channel, masked=masked,
                expires_at=expires_at, ttl_s=ttl_s, sends_cap=MAX_SENDS_PER_KEY, daily_cap=settings.otp_daily_cap,
            )
        except CapReached as exc:
            raise OtpError(MSG_TOO_MANY_SENDS if exc.which == "payment" else MSG_DAILY_CAP) from None
        message_id = outbox.enqueue(
            db, channel=channel, recipient=recipient, subject=SUBJECT,
            body=_message_body(channel, member.full_name, total_text, ttl_s, expires_at),
            dedupe_key=f"payotp:{reference}",
        )
    try:
        enqueue_send(message_id, code_ref=reference)
    except Exception:  # broker down: the row stays pending; the member asks for another code
        log.exception("could not enqueue outbox message %s", message_id)
    return SentCode(channel, masked, expires_at)


def check(session: dict[str, Any], key: str, typed: object) -> None:
    """Accept the code for `key` once: raises OtpError (Spanish) otherwise. A correct code
    is consumed here, so it can never confirm a second submission. A try is spent before
    the code is compared (an atomic counter), so parallel guesses share the same 3 tries."""
    member_id = _member(session)
    store = _store()
    if member_id is None or store.pending(member_id, key) is None:
        raise OtpError(MSG_REQUEST_FIRST)
    code = str(typed or "").strip()
    if len(code) != CODE_DIGITS or not code.isascii() or not code.isdigit():
        raise OtpError(MSG_FORMAT)
    attempt = store.take_try(member_id, key, current_app.config["ZONA_SETTINGS"].otp_ttl_s)
    if attempt is None:
        raise OtpError(MSG_REQUEST_FIRST)
    if attempt is False:
        raise OtpError(MSG_NOT_YET)
    if time.time() > attempt.expires_at:
        store.end(member_id, key, attempt.issue)
        raise OtpError(MSG_EXPIRED)
    if attempt.number > MAX_WRONG:
        store.end(member_id, key, attempt.issue)
        raise OtpError(MSG_VOIDED)
    if verify_secret(attempt.hash, code):
        if not store.end(member_id, key, attempt.issue):
            raise OtpError(MSG_REQUEST_FIRST)  # a parallel submission used it first
        return
    if attempt.number >= MAX_WRONG:
        store.end(member_id, key, attempt.issue)
        raise OtpError(MSG_VOIDED)
    raise OtpError(MSG_WRONG)
