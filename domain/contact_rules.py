"""What a member may type as their contact data (Mis Datos Personales), with the Spanish
message they read when it cannot be used. Pure: no database, no request."""
from __future__ import annotations

import re
from dataclasses import dataclass

# A Colombian mobile: ten digits starting with 3 (the national numbering plan's mobile block).
_MOBILE = re.compile(r"3[0-9]{9}", re.ASCII)
# Deliberately plain: one @, a dot in the domain, no spaces; the mailbox itself proves the rest.
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}", re.ASCII)
EMAIL_MAX = 254
ADDRESS_MAX = 120
CITY_MAX = 60


class ContactError(ValueError):
    """`str()` is the message the member reads; `field` names the input to fix."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class Contact:
    mobile: str
    email: str
    address: str
    city: str


def _clean(raw: object) -> str:
    return " ".join(raw.split()) if isinstance(raw, str) else ""


def read_contact(mobile: object, email: object, address: object, city: object) -> Contact:
    """The four fields as typed, checked; the first problem found is raised."""
    m = _clean(mobile).replace(" ", "").replace("-", "")
    if m.startswith("+57"):
        m = m[3:]
    if not _MOBILE.fullmatch(m):
        raise ContactError("celular", "El celular debe tener 10 dígitos y empezar por 3 (por ejemplo 3104567890).")
    e = _clean(email).lower()
    if len(e) > EMAIL_MAX or not _EMAIL.fullmatch(e):
        raise ContactError("correo", "El correo electrónico no es válido (por ejemplo nombre@correo.com).")
    a = _clean(address)
    if not a:
        raise ContactError("direccion", "Escribe tu dirección de residencia.")
    if len(a) > ADDRESS_MAX or any(ord(c) < 32 for c in a):
        raise ContactError("direccion", f"La dirección no puede tener más de {ADDRESS_MAX} caracteres.")
    c = _clean(city)
    if not c:
        raise ContactError("ciudad", "Escribe tu ciudad de residencia.")
    if len(c) > CITY_MAX or not all(ch.isalpha() or ch in " .-'" for ch in c):
        raise ContactError("ciudad", f"La ciudad solo puede tener letras y hasta {CITY_MAX} caracteres.")
    return Contact(m, e, a, c)
