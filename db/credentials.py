"""Credential operations: the login check, the lockout, the temporary key, the forced
change and the security image and phrase. Every secret is an argon2id hash.

Timing: `attempt_login` always runs exactly two argon2 verifications (the personal key and
the temporary key, each against a dummy hash when there is none), whoever the document
belongs to, so the answer's timing does not tell a member from a stranger.
"""
from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from domain.hashing import hash_secret, verify_secret

from .models import Credential, Member

# Letters and digits a person cannot confuse when reading an SMS (no 0/O, 1/l/I).
_TEMP_KEY_UPPER = "ABCDEFGHJKLMNPQRSTUVWXYZ"
_TEMP_KEY_LOWER = "abcdefghijkmnopqrstuvwxyz"
_TEMP_KEY_DIGITS = "23456789"
TEMP_KEY_LENGTH = 8
TEMP_KEY_CHANNELS = ("sms", "email")


@dataclass(frozen=True, slots=True)
class LoginSubject:
    """What step 2 needs about a document number; `member_id` None for a stranger."""

    member_id: int | None
    security_image: str | None
    security_phrase: str | None
    mobile: str | None
    email: str | None


def find_subject(session: Session, document_type: str, document_number: str) -> LoginSubject:
    row = session.execute(
        select(Member.id, Member.mobile, Member.email, Credential.security_image, Credential.security_phrase)
        .outerjoin(Credential, Credential.member_id == Member.id)
        .where(Member.document_type == document_type, Member.document_number == document_number)
    ).one_or_none()
    if row is None:
        return LoginSubject(None, None, None, None, None)
    return LoginSubject(row.id, row.security_image, row.security_phrase, row.mobile, row.email)


class LoginResult(enum.Enum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    LOCKED_NOW = "locked_now"  # this failure reached the threshold
    LOCKED = "locked"  # already locked: the key was not even considered


@dataclass(frozen=True, slots=True)
class LoginOutcome:
    result: LoginResult
    member_id: int | None = None
    used_temp_key: bool = False
    must_change: bool = False
    needs_consent: bool = False
    needs_security_choice: bool = False
    previous_login_at: datetime | None = None
    previous_login_ip: str | None = None
    failed_attempts: int = 0
    locked_until: datetime | None = None
    email: str | None = None
    full_name: str | None = None


def _live_temp_key_hash(cred: Credential | None, now: datetime) -> str | None:
    if cred is None or cred.temp_key_hash is None or cred.temp_key_used_at is not None:
        return None
    if cred.temp_key_expires_at is None or cred.temp_key_expires_at <= now:
        return None
    return cred.temp_key_hash


def _count_attempt(cred: Credential, ok: bool, *, now: datetime, lockout_threshold: int,
                   lockout_duration_s: int) -> LoginResult:
    """The key's counter and lock, shared by the login and by a logged-in member typing
    the key again (so that form is no way around the lockout). The caller holds the
    credential's row lock: concurrent attempts count one by one."""
    if cred.locked_until is not None and cred.locked_until > now:
        return LoginResult.LOCKED
    if cred.locked_until is not None:  # the lock has run out: a fresh count starts
        cred.locked_until = None
        cred.failed_attempts = 0
    if ok:
        cred.failed_attempts = 0
        return LoginResult.SUCCEEDED
    cred.failed_attempts += 1
    if cred.failed_attempts >= lockout_threshold:
        cred.locked_until = now + timedelta(seconds=lockout_duration_s)
        return LoginResult.LOCKED_NOW
    return LoginResult.FAILED


def attempt_login(
    session: Session,
    document_type: str,
    document_number: str,
    secret: str,
    *,
    now: datetime,
    ip: str | None,
    lockout_threshold: int,
    lockout_duration_s: int,
    consent_version: str,
) -> LoginOutcome:
    member = session.execute(
        select(Member).where(Member.document_type == document_type, Member.document_number == document_number)
    ).scalar_one_or_none()
    cred = None
    if member is not None:
        # Row lock: concurrent attempts on one account count one by one.
        cred = session.execute(
            select(Credential).where(Credential.member_id == member.id).with_for_update()
        ).scalar_one_or_none()
    password_ok = verify_secret(cred.password_hash if cred else None, secret)
    temp_ok = verify_secret(_live_temp_key_hash(cred, now), secret)
    if member is None or cred is None:
        return LoginOutcome(LoginResult.FAILED)

    counted = _count_attempt(cred, password_ok or temp_ok, now=now, lockout_threshold=lockout_threshold,
                             lockout_duration_s=lockout_duration_s)
    if counted is LoginResult.LOCKED:
        return LoginOutcome(LoginResult.LOCKED, member_id=member.id, locked_until=cred.locked_until)
    if counted is LoginResult.LOCKED_NOW:
        return LoginOutcome(LoginResult.LOCKED_NOW, member_id=member.id, failed_attempts=cred.failed_attempts,
                            locked_until=cred.locked_until, email=member.email, full_name=member.full_name)
    if counted is LoginResult.FAILED:
        return LoginOutcome(LoginResult.FAILED, member_id=member.id, failed_attempts=cred.failed_attempts)

    used_temp = temp_ok and not password_ok
    previous_at, previous_ip = cred.last_login_at, cred.last_login_ip
    cred.last_login_at = now
    cred.last_login_ip = (ip or "")[:45] or None
    if used_temp:
        cred.temp_key_used_at = now  # single use
        cred.must_change = True
    return LoginOutcome(
        LoginResult.SUCCEEDED,
        member_id=member.id,
        used_temp_key=used_temp,
        must_change=bool(cred.must_change) or cred.password_hash is None,
        needs_consent=member.data_consent_version != consent_version,
        needs_security_choice=used_temp or not cred.security_image or not cred.security_phrase,
        previous_login_at=previous_at,
        previous_login_ip=previous_ip,
        full_name=member.full_name,
    )


def generate_temp_key(length: int = TEMP_KEY_LENGTH) -> str:
    """Random, and always acceptable to the manual's policy (upper, lower, digit)."""
    if length < 3:
        raise ValueError("a temporary key needs at least 3 characters")
    alphabet = _TEMP_KEY_UPPER + _TEMP_KEY_LOWER + _TEMP_KEY_DIGITS
    while True:
        key = "".join(secrets.choice(alphabet) for _ in range(length))
        if (any(c in _TEMP_KEY_UPPER for c in key) and any(c in _TEMP_KEY_LOWER for c in key)
                and any(c in _TEMP_KEY_DIGITS for c in key)):
            return key


@dataclass(frozen=True, slots=True)
class IssuedTempKey:
    key: str
    member_id: int
    channel: str
    recipient: str
    expires_at: datetime


def issue_temp_key(session: Session, member_id: int, channel: str, *, now: datetime, ttl_s: int) -> IssuedTempKey:
    """A new temporary key replaces any earlier one; only its hash is stored."""
    if channel not in TEMP_KEY_CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    member = session.get(Member, member_id)
    cred = session.execute(select(Credential).where(Credential.member_id == member_id).with_for_update()).scalar_one()
    assert member is not None
    key = generate_temp_key()
    cred.temp_key_hash = hash_secret(key)
    cred.temp_key_channel = channel
    cred.temp_key_expires_at = now + timedelta(seconds=ttl_s)
    cred.temp_key_used_at = None
    recipient = member.mobile if channel == "sms" else member.email
    return IssuedTempKey(key, member_id, channel, recipient, cred.temp_key_expires_at)


def matches_temp_key(session: Session, member_id: int, candidate: str) -> bool:
    """Whether `candidate` equals the member's latest temporary key (used or not)."""
    cred = session.get(Credential, member_id)
    return verify_secret(cred.temp_key_hash if cred else None, candidate)


def change_password(session: Session, member_id: int, new_password: str, *, now: datetime) -> None:
    cred = session.execute(select(Credential).where(Credential.member_id == member_id).with_for_update()).scalar_one()
    cred.password_hash = hash_secret(new_password)
    cred.password_changed_at = now
    cred.must_change = False
    cred.temp_key_hash = None
    cred.temp_key_expires_at = None
    cred.failed_attempts = 0
    cred.locked_until = None


def set_security_choice(session: Session, member_id: int, image: str, phrase: str) -> None:
    cred = session.execute(select(Credential).where(Credential.member_id == member_id).with_for_update()).scalar_one()
    cred.security_image = image
    cred.security_phrase = phrase


def accept_data_consent(session: Session, member_id: int, version: str, *, now: datetime) -> None:
    member = session.get(Member, member_id)
    assert member is not None
    member.data_consent_at = now
    member.data_consent_version = version


def member_contact(session: Session, member_id: int) -> tuple[str, str, str]:
    """(full name, e-mail, document number) for notices."""
    member = session.get(Member, member_id)
    assert member is not None
    return member.full_name, member.email, member.document_number


def security_choice(session: Session, member_id: int) -> tuple[str | None, str | None]:
    cred = session.get(Credential, member_id)
    return (cred.security_image, cred.security_phrase) if cred else (None, None)


def confirm_key(session: Session, member_id: int, secret: str, *, now: datetime, lockout_threshold: int,
                lockout_duration_s: int) -> LoginResult:
    """A logged-in member types their key again to confirm a sensitive change: the
    login's counter and lock (`_count_attempt`); nothing of the login (last access) is
    touched."""
    cred = session.execute(select(Credential).where(Credential.member_id == member_id).with_for_update()
                           ).scalar_one_or_none()
    if cred is None:
        return LoginResult.FAILED
    ok = verify_secret(cred.password_hash, secret)
    return _count_attempt(cred, ok, now=now, lockout_threshold=lockout_threshold,
                          lockout_duration_s=lockout_duration_s)
