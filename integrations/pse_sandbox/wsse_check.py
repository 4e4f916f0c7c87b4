"""WS-Security on the sandbox's side: the UsernameToken Profile 1.1 with PasswordDigest
(what `zeep.wsse.UsernameToken(use_digest=True)` writes), a nonce seen only once and a
Created (and wsu:Timestamp, when sent) inside a window around now.

digest = Base64(SHA-1(nonce + created + password)), as the profile and zeep define it.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from datetime import datetime, timezone
from typing import Callable

from lxml import etree

from integrations.pse_sandbox.soap import SOAP_ENV, SoapFault

WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
DIGEST_TYPE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest"


def _parse_time(text: str | None) -> datetime:
    if not text:
        raise SoapFault("Client", "wsse: falta la fecha de creación (Created)")
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise SoapFault("Client", "wsse: fecha de creación inválida") from None
    if value.tzinfo is None:
        raise SoapFault("Client", "wsse: la fecha de creación no tiene zona horaria")
    return value


def verify_username_token(envelope: etree._Element, *, username: str, password: str, window_s: float,
                          remember_nonce: Callable[[str], bool], now: datetime | None = None) -> None:
    """Raises SoapFault unless the envelope carries a valid, fresh, unreplayed token.

    `remember_nonce` stores the nonce and answers False when it had been seen before.
    """
    now = now or datetime.now(timezone.utc)
    security = envelope.find(f"{{{SOAP_ENV}}}Header/{{{WSSE}}}Security")
    if security is None:
        raise SoapFault("Client", "wsse: falta la cabecera Security")
    token = security.find(f"{{{WSSE}}}UsernameToken")
    if token is None:
        raise SoapFault("Client", "wsse: falta UsernameToken")
    user = token.findtext(f"{{{WSSE}}}Username")
    password_el = token.find(f"{{{WSSE}}}Password")
    nonce_text = token.findtext(f"{{{WSSE}}}Nonce")
    created_text = token.findtext(f"{{{WSU}}}Created")
    if password_el is None or password_el.get("Type") != DIGEST_TYPE:
        raise SoapFault("Client", "wsse: se exige PasswordDigest")
    if not nonce_text:
        raise SoapFault("Client", "wsse: falta el nonce")
    try:
        nonce = base64.b64decode(nonce_text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise SoapFault("Client", "wsse: nonce inválido") from None
    created = _parse_time(created_text)
    age = (now - created).total_seconds()
    if age > window_s or age < -window_s:
        raise SoapFault("Client", "wsse: la fecha de creación está fuera de la ventana permitida")
    timestamp = security.find(f"{{{WSU}}}Timestamp")
    if timestamp is not None:
        ts_created = _parse_time(timestamp.findtext(f"{{{WSU}}}Created"))
        if abs((now - ts_created).total_seconds()) > window_s:
            raise SoapFault("Client", "wsse: Timestamp fuera de la ventana permitida")
        expires = timestamp.findtext(f"{{{WSU}}}Expires")
        if expires and _parse_time(expires) < now:
            raise SoapFault("Client", "wsse: el mensaje expiró")
    expected = base64.b64encode(
        hashlib.sha1(nonce + created_text.strip().encode() + password.encode()).digest()).decode()  # type: ignore[union-attr]
    if user != username or not hmac.compare_digest(expected, (password_el.text or "").strip()):
        raise SoapFault("Client", "wsse: usuario o resumen de contraseña inválido")
    # Only a message that authenticated spends its nonce (otherwise anyone could burn nonces).
    if not remember_nonce(nonce_text.strip()):
        raise SoapFault("Client", "wsse: nonce repetido (posible reenvío)")


def verify_signature(envelope: etree._Element, cert_file: str) -> None:
    """X.509 signature over the body (and Timestamp), as ACH's direct connection requires."""
    from zeep.wsse.signature import verify_envelope  # needs xmlsec, only when asked for

    try:
        verify_envelope(envelope, cert_file)
    except Exception:  # zeep raises several kinds for a missing or broken signature
        raise SoapFault("Client", "wsse: firma X.509 ausente o inválida") from None
