"""Validation of what members type in the login forms. Each check returns the clean value
or raises `FormError` with the Spanish message shown next to the field; nothing here
trusts length, encoding or content of the input."""
from __future__ import annotations

import re
import unicodedata

DOCUMENT_TYPE_LABELS: dict[str, str] = {
    "CC": "Cédula de ciudadanía",
    "CE": "Cédula de extranjería",
    "TI": "Tarjeta de identidad",
    "PA": "Pasaporte",
    "NIT": "NIT",
    "PPT": "Permiso por protección temporal",
}
_NUMERIC_TYPES = ("CC", "TI", "NIT")
_NUMERIC = re.compile(r"[0-9]{3,15}", re.ASCII)
_ALPHANUMERIC = re.compile(r"[A-Z0-9]{3,15}", re.ASCII)
_SEPARATORS = str.maketrans("", "", " .-")
FIELD_MAX_CHARS = 100
PHRASE_MIN = 3
PHRASE_MAX = 40
CHANNELS = ("sms", "email")


class FormError(ValueError):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def document_type(raw: str | None) -> str:
    value = (raw or "").strip().upper()
    if value not in DOCUMENT_TYPE_LABELS:
        raise FormError("Selecciona un tipo de documento válido.")
    return value


def document_number(raw: str | None, doc_type: str) -> str:
    text = raw or ""
    if not text.strip():
        raise FormError("Ingresa tu número de documento.")
    if len(text) > FIELD_MAX_CHARS:
        raise FormError("El número de documento es demasiado largo.")
    value = text.strip().translate(_SEPARATORS).upper()
    if doc_type in _NUMERIC_TYPES:
        if not _NUMERIC.fullmatch(value):
            raise FormError("El número de documento solo puede tener números, entre 3 y 15 dígitos.")
    elif not _ALPHANUMERIC.fullmatch(value):
        raise FormError("El número de documento solo puede tener letras y números, entre 3 y 15 caracteres.")
    return value


def channel(raw: str | None) -> str:
    value = (raw or "").strip()
    if value not in CHANNELS:
        raise FormError("Elige dónde quieres recibir la clave temporal: celular o correo.")
    return value


def security_phrase(raw: str | None) -> str:
    text = raw or ""
    if len(text) > FIELD_MAX_CHARS * 10:
        raise FormError(f"La frase de seguridad debe tener entre {PHRASE_MIN} y {PHRASE_MAX} caracteres.")
    value = " ".join(unicodedata.normalize("NFC", text).split())
    if any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn") for c in value):
        raise FormError("La frase de seguridad tiene caracteres no permitidos.")
    if not PHRASE_MIN <= len(value) <= PHRASE_MAX:
        raise FormError(f"La frase de seguridad debe tener entre {PHRASE_MIN} y {PHRASE_MAX} caracteres.")
    return value


def choice(raw: str | None, options: dict[str, str], message: str) -> str:
    value = (raw or "").strip()
    if value not in options:
        raise FormError(message)
    return value
