"""The one-time codes that confirm a payment, as records in Redis (the sessions database).

Why here and not in the session: the session is read at the start of a request and
written at its end, so N requests in parallel each read "0 wrong tries" and a 3-try code
allowed 3·N guesses. Every counter is an atomic Redis operation with its own expiry:

- `zp:otp:<member>:<key>`: the record of the code for one payment (idempotency key):
  where it went, until when, which issue it is, and its argon2 hash;
- `zp:otp-try:<member>:<key>`: tries on the current issue (HINCRBY before verifying, so
  a try is spent before its answer is known and 16 parallel guesses get 3 verifications);
- `zp:otp-sends:<member>:<key>`: codes sent for that payment;
- `zp:otp-day:<member>:<YYYY-MM-DD>`: codes sent to the member that Bogotá day.

The web never sees the code: it opens a record (no hash yet) and queues the message with
a reference to the record; the worker draws the code, stores its hash in the record if
that issue is still the current one, and puts the code in the text just before delivery.
Neither the broker message nor Redis ever holds the code in clear."""
from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass
from typing import Any

CODE_DIGITS = 6
# The record outlives the code by this much, so a late try hears "venció", not "solicite".
RECORD_GRACE_S = 300
SENDS_KEPT_S = 3600  # a payment's send count outlives its codes: the wizard's key lives about this long
DAY_KEPT_S = 2 * 24 * 3600

# KEYS: record, sends, day, tries. ARGV: sends cap, daily cap, channel, masked, expires_at, ttl_s.
# Returns the issue number, -1 when the payment's cap is reached, -2 when the day's is.
_OPEN = """
local sends = redis.call('INCR', KEYS[2])
if sends == 1 then redis.call('EXPIRE', KEYS[2], %d) end
if sends > tonumber(ARGV[1]) then return -1 end
local today = redis.call('INCR', KEYS[3])
if today == 1 then redis.call('EXPIRE', KEYS[3], %d) end
if today > tonumber(ARGV[2]) then return -2 end
local issue = redis.call('HINCRBY', KEYS[1], 'issue', 1)
redis.call('HDEL', KEYS[1], 'hash')
redis.call('HSET', KEYS[1], 'channel', ARGV[3], 'masked', ARGV[4], 'expires_at', ARGV[5])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[6]))
redis.call('DEL', KEYS[4])
return issue
""" % (SENDS_KEPT_S, DAY_KEPT_S)

# KEYS: record. ARGV: issue, hash. The hash of an issue a newer send replaced is dropped.
_SET_HASH = """
if redis.call('HGET', KEYS[1], 'issue') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'hash', ARGV[2])
return 1
"""

# KEYS: record, tries. ARGV: ttl_s. Spends one try on the current issue and returns
# {tries, hash, expires_at, issue}; {} when there is no record; {0} while the hash is not there yet.
_TAKE_TRY = """
local fields = redis.call('HMGET', KEYS[1], 'hash', 'expires_at', 'issue')
if not fields[3] then return {} end
if not fields[1] then return {0} end
local tries = redis.call('INCR', KEYS[2])
if tries == 1 then redis.call('EXPIRE', KEYS[2], tonumber(ARGV[1])) end
return {tries, fields[1], fields[2], fields[3]}
"""

# KEYS: record, tries. ARGV: issue. Ends that issue once: 1 for the one caller that ended it.
_END = """
if redis.call('HGET', KEYS[1], 'issue') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1], KEYS[2])
return 1
"""


class Verdict(enum.Enum):
    ACCEPTED = "accepted"
    NONE = "none"  # no code asked for
    NOT_YET = "not_yet"  # asked, the worker has not stored it yet
    EXPIRED = "expired"
    WRONG = "wrong"
    VOIDED = "voided"  # too many tries: ask for a new one


class CapReached(Exception):
    def __init__(self, which: str) -> None:
        super().__init__(which)
        self.which = which  # "payment" or "day"


@dataclass(frozen=True, slots=True)
class CodeRecord:
    channel: str
    masked: str
    expires_at: float


@dataclass(frozen=True, slots=True)
class Try:
    number: int  # 1 for the first try on this issue
    hash: str
    expires_at: float
    issue: str


def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


class CodeStore:
    def __init__(self, client: Any) -> None:
        self.client = client

    @staticmethod
    def record_key(member_id: int | str, key: str) -> str:
        return f"zp:otp:{member_id}:{key}"

    def open(self, member_id: int | str, key: str, *, day: str, channel: str, masked: str, expires_at: float,
             ttl_s: int, sends_cap: int, daily_cap: int) -> str:
        """A new issue for that payment (the earlier one stops working); its record key
        and issue, as `record|issue`, is what the worker is given. Raises CapReached."""
        record = self.record_key(member_id, key)
        issue = int(self.client.eval(
            _OPEN, 4, record, f"zp:otp-sends:{member_id}:{key}", f"zp:otp-day:{member_id}:{day}",
            f"zp:otp-try:{member_id}:{key}", sends_cap, daily_cap, channel, masked, f"{expires_at:.3f}",
            max(1, ttl_s) + RECORD_GRACE_S,
        ))
        if issue == -1:
            raise CapReached("payment")
        if issue == -2:
            raise CapReached("day")
        return f"{record}|{issue}"

    def set_hash(self, reference: str, code_hash: str) -> bool:
        record, _, issue = reference.rpartition("|")
        if not record.startswith("zp:otp:"):
            return False
        return bool(self.client.eval(_SET_HASH, 1, record, issue, code_hash))

    def pending(self, member_id: int | str, key: str) -> CodeRecord | None:
        raw = self.client.hmget(self.record_key(member_id, key), "channel", "masked", "expires_at")
        if raw[0] is None:
            return None
        return CodeRecord(raw[0].decode(), raw[1].decode(), float(raw[2]))

    def take_try(self, member_id: int | str, key: str, ttl_s: int) -> Try | None | bool:
        """None: no code for that payment; False: issued but not delivered yet; else the try."""
        out = self.client.eval(_TAKE_TRY, 2, self.record_key(member_id, key), f"zp:otp-try:{member_id}:{key}",
                               max(1, ttl_s))
        if not out:
            return None
        if len(out) == 1:
            return False
        return Try(int(out[0]), out[1].decode(), float(out[2]), out[3].decode())

    def end(self, member_id: int | str, key: str, issue: str) -> bool:
        """Consume or void that issue; True only for the caller that did it."""
        return bool(self.client.eval(_END, 2, self.record_key(member_id, key), f"zp:otp-try:{member_id}:{key}", issue))


def verify(store: CodeStore, owner: int | str, key: str, typed: str, *, ttl_s: int, max_wrong: int,
           now: float, verify_hash: Any) -> Verdict:
    """One try of `typed` (already checked to be CODE_DIGITS digits): the try is spent
    before the comparison, so parallel tries share the same `max_wrong`."""
    attempt = store.take_try(owner, key, ttl_s)
    if attempt is None:
        return Verdict.NONE
    if attempt is False:
        return Verdict.NOT_YET
    if now > attempt.expires_at:
        store.end(owner, key, attempt.issue)
        return Verdict.EXPIRED
    if attempt.number > max_wrong:
        store.end(owner, key, attempt.issue)
        return Verdict.VOIDED
    if verify_hash(attempt.hash, typed):
        return Verdict.ACCEPTED if store.end(owner, key, attempt.issue) else Verdict.NONE
    if attempt.number >= max_wrong:
        store.end(owner, key, attempt.issue)
        return Verdict.VOIDED
    return Verdict.WRONG
