"""argon2id for every secret (passwords, temporary keys, one-time codes).

Pure computation, no I/O. Parameters follow OWASP's minimum for argon2id
(19 MiB, 2 iterations, 1 lane): strong, yet a login stays well under 100 ms.
"""
from __future__ import annotations

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_HASHER = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1, hash_len=32, salt_len=16, type=Type.ID)
# Verified against when the member does not exist, so both paths cost the same.
DUMMY_HASH = _HASHER.hash("not-a-real-secret")


def hash_secret(secret: str) -> str:
    return _HASHER.hash(secret)


def verify_secret(stored_hash: str | None, secret: str) -> bool:
    """True when `secret` matches; with no hash, still spends the same work and says no."""
    try:
        return _HASHER.verify(stored_hash or DUMMY_HASH, secret) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _HASHER.check_needs_rehash(stored_hash)
