"""The on-screen keyboard's token codec.

Every page load gets a fresh random seed (kept in Redis beside the session under a random
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
import time
from collections.abc import Iterable
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


# ---------------------------------------------------------------- seed storage

# Seeds live in Redis beside the session, not in it: a seed is used once, and with the
# session read and written back by every request, a request that started before the
# redeem (another tab, the status poll) could write the used seed back. Here the redeem
# is one atomic step (a Lua script: read and delete), so a seed is used once whatever runs
# in parallel, and the last KEEP_KEYBOARDS loads are kept (a zset orders them).
_REMEMBER = """
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
local extra = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[4])
if extra > 0 then
  local popped = redis.call('ZPOPMIN', KEYS[2], extra)
  for i = 1, #popped, 2 do redis.call('HDEL', KEYS[1], popped[i]) end
end
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[5]))
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[5]))
return 1
"""
_REDEEM = """
local value = redis.call('HGET', KEYS[1], ARGV[1])
if not value then return false end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return value
"""


class SeedStore:
    """The keyboard seeds of one session (`scope` is its id), in Redis with an expiry."""

    def __init__(self, client: Any, scope: str, ttl_s: int) -> None:
        self.client = client
        self.seeds_key = f"zp:kb:{scope}"
        self.order_key = f"zp:kbo:{scope}"
        self.ttl_s = max(1, ttl_s)

    def remember(self, keyboard: Keyboard) -> None:
        self.client.eval(_REMEMBER, 2, self.seeds_key, self.order_key, keyboard.form_id,
                         f"{keyboard.seed.hex()}:{keyboard.slots}", time.time(), KEEP_KEYBOARDS, self.ttl_s)

    def redeem(self, form_id: object) -> tuple[bytes, int] | None:
        """The seed of that page load, deleted as it is read: a form is good once."""
        if not isinstance(form_id, str) or not form_id or len(form_id) > 4 * FORM_ID_BYTES:
            return None
        value = self.client.eval(_REDEEM, 2, self.seeds_key, self.order_key, form_id)
        if value is None:
            return None
        seed_hex, slots = (value.decode() if isinstance(value, bytes) else value).split(":")
        return bytes.fromhex(seed_hex), int(slots)


def remember(store: SeedStore, keyboard: Keyboard) -> None:
    store.remember(keyboard)


def redeem(store: SeedStore, form_id: object) -> tuple[bytes, int] | None:
    return store.redeem(form_id)


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
