"""Verification codes printed on issued documents: random (not derived from the member
or the date, so they cannot be guessed), typed by people, so no look-alike characters."""
from __future__ import annotations

import re
import secrets

# Crockford-style alphabet without I, L, O, U: nothing to confuse when typing from paper.
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
GROUPS = 3
GROUP_LEN = 4  # 12 characters of 5 bits: 60 bits, far beyond guessing at any rate limit
PREFIX = "ZP"
_SHAPE = re.compile(rf"^{PREFIX}(?:-[{ALPHABET}]{{{GROUP_LEN}}}){{{GROUPS}}}$")


def new_code() -> str:
    groups = ("".join(secrets.choice(ALPHABET) for _ in range(GROUP_LEN)) for _ in range(GROUPS))
    return "-".join((PREFIX, *groups))


def normalize_code(text: str) -> str | None:
    """What a person typed (any case, spaces, missing dashes) as a stored code, or None
    when it cannot be one."""
    compact = re.sub(r"[\s-]", "", text or "").upper()
    if compact.startswith(PREFIX):
        compact = compact[len(PREFIX):]
    if len(compact) != GROUPS * GROUP_LEN:
        return None
    code = "-".join((PREFIX, *(compact[i:i + GROUP_LEN] for i in range(0, len(compact), GROUP_LEN))))
    return code if _SHAPE.match(code) else None
