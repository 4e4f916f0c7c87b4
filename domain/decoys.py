"""What the login shows for a document number that is not a member's (or a member who has
not chosen an image yet): an image, a phrase and contact masks chosen by an HMAC of the
number under a server secret. The same number always gets the same decoy, so asking
twice reveals nothing, and nobody without the secret can predict it.

The masks are drawn from the members' own: `ContactShapes` holds the pieces of real
members' masked contacts (the masked local part, the masked domain, the mobile's
operator prefix), and a decoy recombines pieces picked by the HMAC. So a decoy's mask
has the distribution members' masks have (their domains, ``.coop`` ones included, their
lengths), not a recognisable one of its own: the issue's ten lines of regex told a
decoy apart by its six fixed domains. Without shapes (an empty database) the synthetic
generator below is the fallback. Phrases are written the many ways members write theirs
(commas, capitals, short and long); on a new device no phrase is shown at all.

Pure: the caller passes the secret, the list of shipped images and the shapes."""
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
# How members write their phrases: not one pattern but several (a comma, a name, a date).
_PATTERNS = ("{o} {s}{c}", "{O}, {s}{c}", "{s} y {s2}", "{O} {s}, {s2}", "{s}{c} {y}", "{O} {s} {n}")
_NAMES = ("Lucas", "Sofía", "Mateo", "Valentina", "Tomás", "Isabella", "Samuel", "Mariana", "Daniel", "Lola")
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
class ContactShapes:
    """Pieces of real members' masked contacts, in a stable order (see db.contact_shapes)."""

    email_locals: tuple[str, ...] = ()  # "ca**********"
    email_domains: tuple[str, ...] = ()  # "e******.coop"
    mobile_masks: tuple[str, ...] = ()  # "315*****": the prefix and the stars, digits drawn

    @classmethod
    def from_masks(cls, emails: Sequence[str], mobiles: Sequence[str]) -> ContactShapes:
        locals_, domains = [], []
        for masked in emails:
            local, at, domain = masked.partition("@")
            if at and local and domain:
                locals_.append(local)
                domains.append(domain)
        return cls(tuple(locals_), tuple(domains), tuple(m[:-2] for m in mobiles if len(m) > 5))

    def __bool__(self) -> bool:
        return bool(self.email_locals and self.email_domains and self.mobile_masks)


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


def _phrase(stream: _Stream) -> str:
    opening = stream.pick(_OPENINGS)
    subject, other = stream.pick(_SUBJECTS), stream.pick(_SUBJECTS)
    text = stream.pick(_PATTERNS).format(
        o=opening, O=opening.capitalize(), s=subject, s2=other, c=stream.pick(_CLOSINGS),
        y=str(1960 + stream.below(60)), n=stream.pick(_NAMES),
    )
    return text[0].upper() + text[1:] if stream.below(4) else text


def decoy_for(secret: str | bytes, document_type: str, document_number: str, images: Sequence[str],
              shapes: ContactShapes | None = None) -> Decoy:
    if not images:
        raise ValueError("at least one image is needed to build a decoy")
    key = secret.encode() if isinstance(secret, str) else secret
    stream = _Stream(key, f"decoy|{document_type}|{document_number}")
    image = stream.pick(images)
    phrase = _phrase(stream)
    if shapes:
        masked_mobile = stream.pick(shapes.mobile_masks) + f"{stream.below(100):02d}"
        masked_email = f"{stream.pick(shapes.email_locals)}@{stream.pick(shapes.email_domains)}"
        return Decoy(image=image, phrase=phrase, masked_mobile=masked_mobile, masked_email=masked_email)
    mobile = stream.pick(_MOBILE_PREFIXES) + "".join(str(stream.below(10)) for _ in range(7))
    local_len = 5 + stream.below(10)
    local = "".join(stream.pick(_LETTERS) for _ in range(local_len))
    email = f"{local}@{stream.pick(_EMAIL_DOMAINS)}"
    return Decoy(image=image, phrase=phrase, masked_mobile=mask_mobile(mobile), masked_email=mask_email(email))
