"""Documents issued to members (statements and certificates): the exact bytes handed
out and their SHA-256, so the public page can tell a genuine, unchanged file."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, Index, LargeBinary, String, text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base

# The kinds of document; the migration's CHECK lists the same values.
DOCUMENT_KINDS: tuple[str, ...] = ("estado_cuenta", "aportes", "saldos", "tributario", "paz_y_salvo")


class MemberDocument(Base):
    __tablename__ = "member_documents"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    kind: Mapped[str] = mapped_column(String(20))
    # What the document covers, as printed on it ("01/12/2025 a 03/12/2026", "2025", ...).
    period: Mapped[str] = mapped_column(String(40))
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    content: Mapped[bytes] = mapped_column(LargeBinary)

    __table_args__ = (
        CheckConstraint(f"kind IN {DOCUMENT_KINDS!r}", name="kind"),
        CheckConstraint("sha256 ~ '^[0-9a-f]{64}$'", name="sha256_hex"),
        Index("ix_member_documents_member_issued", "member_id", "issued_at"),
    )
