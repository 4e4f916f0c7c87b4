"""The payment pages' fixtures (demo members seeded once and reused, the app, a logged-in
client), shared here: the documents are read by the same member the same way."""
from __future__ import annotations

import io
import urllib.parse
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest
from pypdf import PdfReader

from tests.integration.web_payments.conftest import make_app, member, seeded, smtp_sink  # noqa: F401


def pdf_text(content: bytes) -> str:
    """What a reader of the PDF sees, through a PDF text extractor."""
    return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(content)).pages)


def upload(client: Any, content: bytes | None, csrf: str, filename: str = "documento.pdf") -> Any:
    data: dict[str, Any] = {"csrf_token": csrf}
    if content is not None:
        data["archivo"] = (io.BytesIO(content), filename)
    return client.post("/verificar/archivo", data=data, content_type="multipart/form-data")


@pytest.fixture
def debt_free_client(make_app, seeded) -> Iterator[Any]:  # noqa: ANN001, F811
    """The manual's second member (no loan, nothing overdue) logged in: given a key for
    this test as the seed gives the first one, and put back to first access afterwards,
    so tests that expect the first-access flow still find it."""
    from sqlalchemy import update

    from db.engine import session_scope
    from db.models import Credential, Member
    from domain.hashing import hash_secret
    from tests.integration.web_payments import pages

    _creds, ids = seeded
    secret = "Clave73x"  # the manual's policy: 8 characters, upper, lower and digits
    with session_scope() as db:
        saved_credential = {c: getattr(db.get(Credential, ids.other_member_id), c) for c in CREDENTIAL_FIELDS}
        saved_member = {c: getattr(db.get(Member, ids.other_member_id), c) for c in CONSENT_FIELDS}
        db.execute(update(Credential).where(Credential.member_id == ids.other_member_id).values(
            password_hash=hash_secret(secret), must_change=False, security_image="colibri",
            security_phrase="Mi cooperativa, mi futuro"))
        db.execute(update(Member).where(Member.id == ids.other_member_id).values(
            data_consent_version="2024-01", data_consent_at=datetime.now(timezone.utc)))
    try:
        client = make_app().test_client()

        def post(path: str, pairs: list[tuple[str, str]]) -> Any:
            return client.post(path, data=urllib.parse.urlencode(pairs, safe="*"), content_type="application/x-www-form-urlencoded")

        pages.login(client.get, post, pages.OTHER, secret)
        yield client
    finally:
        with session_scope() as db:
            db.execute(update(Credential).where(Credential.member_id == ids.other_member_id).values(**saved_credential))
            db.execute(update(Member).where(Member.id == ids.other_member_id).values(**saved_member))


CREDENTIAL_FIELDS = ("password_hash", "must_change", "security_image", "security_phrase", "failed_attempts",
                     "locked_until", "last_login_at", "last_login_ip", "password_changed_at")
CONSENT_FIELDS = ("data_consent_version", "data_consent_at")
