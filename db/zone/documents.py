"""Issued documents: stored with the exact bytes handed out and their SHA-256, found by
code (typed or from the QR) or by the bytes themselves (an uploaded file)."""
from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from domain.document_codes import new_code
from domain.masking import mask_document, mask_name

from ..audit import Requester, record
from ..models import Member, MemberDocument

# What the verification page calls each kind.
KIND_LABELS: dict[str, str] = {
    "estado_cuenta": "Estado de cuenta",
    "aportes": "Certificado de aportes",
    "saldos": "Certificado de saldos",
    "tributario": "Certificado tributario",
    "paz_y_salvo": "Paz y salvo",
}
CODE_ATTEMPTS = 3  # a collision of 60 random bits is not expected even once


def sha256_hex(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def issue_document(session: Session, *, member_id: int, kind: str, period: str, issued_at: datetime,
                   render: Callable[[str], bytes], requester: Requester | None) -> MemberDocument:
    """Render with a fresh code (the PDF prints it), store the bytes and audit the issue,
    in the caller's transaction."""
    for _ in range(CODE_ATTEMPTS):
        code = new_code()
        content = render(code)
        document = MemberDocument(code=code, member_id=member_id, kind=kind, period=period, issued_at=issued_at,
                                  sha256=sha256_hex(content), content=content)
        try:
            with session.begin_nested():
                session.add(document)
                session.flush()
        except IntegrityError:
            continue
        record(session, "document_issued", requester, member_id=member_id, code=code, document_kind=kind, period=period,
               sha256=document.sha256)
        return document
    raise RuntimeError("could not draw an unused verification code")


def owned_document(session: Session, member_id: int, code: str) -> MemberDocument | None:
    """The member's own document by code; another member's is None, like a missing one."""
    return session.execute(
        select(MemberDocument).where(MemberDocument.code == code, MemberDocument.member_id == member_id)
    ).scalar_one_or_none()


def recent_documents(session: Session, member_id: int, limit: int = 20) -> list[MemberDocument]:
    return list(session.execute(
        select(MemberDocument).where(MemberDocument.member_id == member_id)
        .order_by(MemberDocument.issued_at.desc(), MemberDocument.id.desc()).limit(limit)
    ).scalars())


@dataclass(frozen=True, slots=True)
class Verified:
    """What the public page may say about a genuine document, and no more."""

    code: str
    kind_label: str
    period: str
    holder_name: str  # masked
    holder_document: str  # masked
    issued_at: datetime


def _verified(session: Session, document: MemberDocument) -> Verified:
    member = session.get(Member, document.member_id)
    assert member is not None, "a document's member is never deleted (foreign key)"
    return Verified(code=document.code, kind_label=KIND_LABELS[document.kind], period=document.period,
                    holder_name=mask_name(member.full_name),
                    holder_document=mask_document(member.document_type, member.document_number),
                    issued_at=document.issued_at)


def verify_code(session: Session, code: str) -> Verified | None:
    document = session.execute(select(MemberDocument).where(MemberDocument.code == code)).scalar_one_or_none()
    return _verified(session, document) if document else None


def verify_bytes(session: Session, content: bytes) -> Verified | None:
    """Genuine and unchanged only if these exact bytes were issued."""
    document = session.execute(
        select(MemberDocument).where(MemberDocument.sha256 == sha256_hex(content))
    ).scalar_one_or_none()
    return _verified(session, document) if document else None
