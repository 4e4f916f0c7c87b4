"""Five wrong keys lock the account for the configured period and the member is told by
e-mail; an unknown number behaves the same way on screen; one IP cannot guess widely."""
from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from db.engine import session_scope
from db.models import AuditEvent, Credential, Member
from tests.support.payments import DEMO_DOCUMENT as DOC_MEMBER
from tests.processes import wait_for
from zona_privada.smtp_sink import read_messages as read_mail

pytestmark = pytest.mark.integration

LOCK_TEXT = "el acceso quedó bloqueado temporalmente"


def member_credential() -> Credential:
    with session_scope() as db:
        member_id = db.execute(select(Member.id).where(Member.document_number == DOC_MEMBER)).scalar_one()
        return db.get(Credential, member_id)


def attempts(client, number: str, secret: str, times: int) -> list[tuple[int, str]]:  # noqa: ANN001
    out = []
    for _ in range(times):
        response = client.login(number, secret)
        out.append((response.status_code, response.get_data(as_text=True)))
    return out


def test_lockout_after_five_failures_then_unlock(make_app, browserish, demo_creds, sinks) -> None:  # noqa: ANN001
    lock_s = 3
    client = browserish(make_app(ZONA_LOCKOUT_DURATION_S=lock_s))
    results = attempts(client, DOC_MEMBER, "Wrong1", 5)
    assert [s for s, _ in results] == [401, 401, 401, 401, 403]
    assert all(LOCK_TEXT not in text for _, text in results[:4]) and LOCK_TEXT in results[4][1]
    locked_at = time.monotonic()
    assert member_credential().locked_until is not None

    # The right key is refused while locked, with the same message.
    status, text = attempts(client, DOC_MEMBER, demo_creds[DOC_MEMBER], 1)[0]
    assert status == 403 and LOCK_TEXT in text

    mails = read_mail(sinks["mail_dir"])
    assert [m["to"] for m in mails] == ["maria.rojas@example.coop"]
    assert "Bloqueo temporal" in mails[0]["subject"] and "127.0.0.1" in mails[0]["body"]
    with session_scope() as db:
        kinds = db.execute(select(AuditEvent.kind).order_by(AuditEvent.id)).scalars().all()
    assert kinds.count("login_failed") == 6 and kinds.count("account_locked") == 1

    # After the period the right key works again, and the count starts afresh.
    assert wait_for(lambda: time.monotonic() - locked_at > lock_s + 0.2, lock_s + 5)
    response = client.login(DOC_MEMBER, demo_creds[DOC_MEMBER])
    assert response.status_code == 303 and response.headers["Location"] == "/zona/"
    cred = member_credential()
    assert cred.failed_attempts == 0


def test_unknown_number_locks_alike_and_sends_nothing(make_app, browserish, sinks) -> None:  # noqa: ANN001
    client = browserish(make_app())
    results = attempts(client, "91234567", "Wrong1", 6)
    assert [s for s, _ in results] == [401, 401, 401, 401, 403, 403]
    assert LOCK_TEXT in results[4][1] and LOCK_TEXT in results[5][1]
    assert read_mail(sinks["mail_dir"]) == []


def test_ip_throttle(make_app, browserish, demo_creds) -> None:  # noqa: ANN001
    client = browserish(make_app(ZONA_LOGIN_IP_LIMIT=3))
    statuses = [client.login(number, "Wrong1").status_code for number in ("61000001", "61000002", "61000003")]
    assert statuses == [401, 401, 401]
    blocked = client.login(DOC_MEMBER, demo_creds[DOC_MEMBER])
    assert blocked.status_code == 429 and "demasiados intentos" in blocked.get_data(as_text=True)
    assert member_credential().last_login_at is None  # not even the right key gets through
    # Another address still gets in: the limit is per IP, nobody else is locked out.
    other = browserish(client.client.application)
    other.client.environ_base["REMOTE_ADDR"] = "10.1.2.3"
    assert other.login(DOC_MEMBER, demo_creds[DOC_MEMBER]).status_code == 303
