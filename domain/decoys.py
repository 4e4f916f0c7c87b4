"""What step 2 of the login shows for a document number that is not a member's (or a
member who has not chosen an image yet): an image, a phrase and contact masks chosen by
an HMAC of the number under a server secret. The same number always gets the same decoy,
so asking twice reveals nothing, and nobody without the secret can predict it.

Pure: the caller passes the secret and the list of shipped images."""
from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass

from .masking import mask_email, mask_mobile

# Phrases are composed, not picked from a short list, so the decoy phrases do not form a
# small recognisable set (an attacker collecting them learns little).
_OPENINGS = (
    "Mi", "Nuestro", "Siempre mi", "Con mi", "Para mi", "Todo por mi", "Gracias a mi", "Cuido mi",
    "Sueño con mi", "Vivo por mi", "Juntos con mi", "Adelante con mi",
)
_SUBJECTS = (
    "familia", "hogar", "futuro", "ahorro", "cooperativa", "jardín", "montaña", "río", "café", "camino",
    "abuela", "perro", "gato", "finca", "huerta", "bicicleta", "guitarra", "pueblo", "mar", "cielo",
    "proyecto", "negocio", "casa", "sueño",
)
_CLOSINGS = (
    "", " feliz", " en paz", " querido", " de siempre", " primero", " tranquilo", " seguro", " con amor",
    " cada día", " sin prisa", " en calma",
)
_EMAIL_DOMAINS = ("gmail.com", "hotmail.com", "outlook.com", "yahoo.es", "yahoo.com", "une.net.co")
_MOBILE_PREFIXES = (
    "300", "301", "302", "304", "305", "310", "311", "312", "313", "314", "315", "316", "317", "318",
    "319", "320", "321", "322", "323", "324", "350", "351",
)
_LETTERS = "abcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True, slots=True)
class Decoy:
    image: str
    phrase: str
    masked_mobile: str
    masked_email: str


class _Stream:
    """Deterministic numbers from HMAC-SHA256(secret, label‖document), block after block."""

    def __init__(self, secret: bytes, label: str) -> None:
        self._secret = secret
        self._label = label.encode()
        self._counter = 0
        self._buffer = b""

    def _refill(self) -> None:
        block = hmac.new(self._secret, self._label + b"|" + str(self._counter).encode(), hashlib.sha256).digest()
        self._counter += 1
        self._buffer += block

    def below(self, n: int) -> int:
        """A number in [0, n) with negligible bias (64 bits drawn for small n)."""
        while len(self._buffer) < 8:
            self._refill()
        chunk, self._buffer = self._buffer[:8], self._buffer[8:]
        return int.from_bytes(chunk, "big") % n

    def pick(self, options: Sequence[str]) -> str:
        return options[self.below(len(options))]


def decoy_for(secret: str | bytes, document_type: str, document_number: str, images: Sequence[str]) -> Decoy:
    if not images:
        raise ValueError("at least one image is needed to build a decoy")
    key = secret.encode() if isinstance(secret, str) else secret
    stream = _Stream(key, f"decoy|{document_type}|{document_number}")
    image = stream.pick(images)
    phrase = f"{stream.pick(_OPENINGS)} {stream.pick(_SUBJECTS)}{stream.pick(_CLOSINGS)}"
    mobile = stream.pick(_MOBILE_PREFIXES) + "".join(str(stream.below(10)) for _ in range(7))
    local_len = 5 + stream.below(10)
    local = "".join(stream.pick(_LETTERS) for _ in range(local_len))
    email = f"{local}@{stream.pick(_EMAIL_DOMAINS)}"
    return Decoy(image=image, phrase=phrase, masked_mobile=mask_mobile(mobile), masked_email=mask_email(email))
