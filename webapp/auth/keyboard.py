"""The on-screen keyboard's token codec.

Every page load gets a fresh random seed (kept in the server-side session under a random
form id) and a shuffled layout. Each key carries `slots` tokens derived from the seed,
HMAC(seed, char|slot): the browser posts one unused token per character typed, never the
character, and the server redeems the seed once (single use) to decode them.

Tokens, the form id and the CSRF token of these forms are written with four symbols only
(`* - . _`), which form encoding leaves as they are. So the body posted by a keyboard form
holds no two consecutive letters or digits at all: no piece of the password, whatever it
is, can appear in it. The same password typed twice shares no token (new seed each load),
and a repeated character uses a different token each time."""
from __future__ import annotations

import hashlib
import hmac
import secrets
import string
from collections.abc import Iterable, MutableMapping
from dataclasses import dataclass
from typing import Any

from flask_wtf.csrf import CSRFError, generate_csrf, validate_csrf
from wtforms import ValidationError

SYMBOLS = "*-._"
DIGITS = string.digits
LOWER = string.ascii_lowercase
UPPER = string.ascii_uppercase
CHARACTERS = DIGITS + LOWER + UPPER
TOKEN_BYTES = 12  # 96 bits: 48 symbols per token
FORM_ID_BYTES = 8
SEED_BYTES = 32
SESSION_KEY = "kb"
KEEP_KEYBOARDS = 3  # a few tabs or a reload still work; older layouts are forgotten
_SYMBOL_INDEX = {s: i for i, s in enumerate(SYMBOLS)}


class KeyboardError(ValueError):
    """The posted tokens do not decode with this page load's keyboard."""


def encode_symbols(data: bytes) -> str:
    out = []
    for byte in data:
        out.append(SYMBOLS[byte >> 6] + SYMBOLS[(byte >> 4) & 3] + SYMBOLS[(byte >> 2) & 3] + SYMBOLS[byte & 3])
    return "".join(out)


def decode_symbols(text: str) -> bytes:
    if len(text) % 4:
        raise ValueError("length is not a multiple of 4")
    try:
        values = [_SYMBOL_INDEX[c] for c in text]
    except KeyError:
        raise ValueError("unexpected character") from None
    return bytes(
        (values[i] << 6) | (values[i + 1] << 4) | (values[i + 2] << 2) | values[i + 3] for i in range(0, len(values), 4)
    )


def token_for(seed: bytes, char: str, slot: int) -> str:
    digest = hmac.new(seed, f"{char}|{slot}".encode(), hashlib.sha256).digest()
    return encode_symbols(digest[:TOKEN_BYTES])


@dataclass(frozen=True, slots=True)
class Keyboard:
    form_id: str
    seed: bytes
    slots: int
    digits: tuple[str, ...]
    letters: tuple[str, ...]  # lower case, in the shuffled order; upper case uses the same places

    def tokens(self, char: str) -> list[str]:
        return [token_for(self.seed, char, slot) for slot in range(self.slots)]


def new_keyboard(slots: int) -> Keyboard:
    if slots < 1:
        raise ValueError("slots must be positive")
    rng = secrets.SystemRandom()
    digits, letters = list(DIGITS), list(LOWER)
    rng.shuffle(digits)
    rng.shuffle(letters)
    return Keyboard(
        form_id=encode_symbols(secrets.token_bytes(FORM_ID_BYTES)),
        seed=secrets.token_bytes(SEED_BYTES),
        slots=slots,
        digits=tuple(digits),
        letters=tuple(letters),
    )


def decode(seed: bytes, slots: int, fields: Iterable[Iterable[str]], *, max_chars: int) -> list[str]:
    """Decode each field's tokens to its text. A token is good for one character of one
    field: an unknown token, a token used twice or too many characters is refused."""
    reverse = {token_for(seed, c, slot): c for c in CHARACTERS for slot in range(slots)}
    used: set[str] = set()
    texts = []
    for tokens in fields:
        chars = []
        for token in tokens:
            if token in used:
                raise KeyboardError("token reused")
            char = reverse.get(token)
            if char is None:
                raise KeyboardError("unknown token")
            used.add(token)
            chars.append(char)
            if len(chars) > max_chars:
                raise KeyboardError("too many characters")
        texts.append("".join(chars))
    return texts


# ---------------------------------------------------------------- session storage


def remember(session: MutableMapping[str, Any], keyboard: Keyboard) -> None:
    stored = dict(session.get(SESSION_KEY) or {})
    stored[keyboard.form_id] = [keyboard.seed.hex(), keyboard.slots]
    while len(stored) > KEEP_KEYBOARDS:
        stored.pop(next(iter(stored)))
    session[SESSION_KEY] = stored


def redeem(session: MutableMapping[str, Any], form_id: str) -> tuple[bytes, int] | None:
    """The seed of that page load, removed from the session: a form is good once."""
    stored = dict(session.get(SESSION_KEY) or {})
    entry = stored.pop(form_id, None) if isinstance(form_id, str) else None
    session[SESSION_KEY] = stored
    if entry is None:
        return None
    return bytes.fromhex(entry[0]), int(entry[1])


# ---------------------------------------------------------------- CSRF in symbols


def csrf_in_symbols() -> str:
    return encode_symbols(generate_csrf().encode("ascii"))


def check_csrf_in_symbols(value: str | None) -> None:
    """Flask-WTF's own check, on the token the keyboard form carries in symbols."""
    if not value:
        raise CSRFError("The CSRF token is missing.")
    try:
        token = decode_symbols(value).decode("ascii")
        validate_csrf(token)
    except (ValueError, UnicodeDecodeError, ValidationError) as exc:
        raise CSRFError(str(exc) or "The CSRF token is invalid.") from None
