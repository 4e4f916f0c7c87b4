"""Double-entry ledger: accounts (with their CUIF code), journal entries and lines.

PostgreSQL itself guards the invariants (see the ledger migration): an entry must have
at least two lines and balance at commit, posted lines and entries are immutable, and
no line can be added to an entry posted by an earlier transaction.
"""
from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, Money, UtcNow
from .products import pg_enum


class Nature(StrEnum):
    """Which side increases the account: assets and expenses debit, the rest credit."""

    DEBIT = "debit"
    CREDIT = "credit"


class LedgerAccount(Base):
    __tablename__ = "ledger_accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(60), unique=True)
    # Catálogo Único de Información Financiera (Supersolidaria) sub-account code.
    cuif_code: Mapped[str] = mapped_column(String(10), index=True)
    name: Mapped[str] = mapped_column(String(120))
    nature: Mapped[Nature] = mapped_column(pg_enum(Nature, "ledger_nature"))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), index=True)
    created_at: Mapped[UtcNow]

    __table_args__ = (CheckConstraint("cuif_code ~ '^[1-9][0-9]{3,9}$'", name="cuif_code_digits"),)


class JournalEntry(Base):
    __tablename__ = "journal_entries"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    posted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))
    kind: Mapped[str] = mapped_column(String(30))
    description: Mapped[str] = mapped_column(String(200))
    payment_intent_id: Mapped[int | None] = mapped_column(ForeignKey("payment_intents.id"), index=True)
    reversal_of_id: Mapped[int | None] = mapped_column(ForeignKey("journal_entries.id"), unique=True)
    # The top-level transaction that posted the entry: lines may only be added by it.
    created_txid: Mapped[int] = mapped_column(BigInteger, server_default=text("txid_current()"))

    lines: Mapped[list[JournalLine]] = relationship(back_populates="entry", order_by="JournalLine.id")


class JournalLine(Base):
    __tablename__ = "journal_lines"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("journal_entries.id"))
    ledger_account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"))
    debit: Mapped[Money] = mapped_column(server_default=text("0"))
    credit: Mapped[Money] = mapped_column(server_default=text("0"))

    entry: Mapped[JournalEntry] = relationship(back_populates="lines")

    __table_args__ = (
        # Exactly one side, and positive: a line is a debit or a credit, never both or zero.
        CheckConstraint("debit >= 0 AND credit >= 0 AND (debit = 0) <> (credit = 0)", name="one_positive_side"),
        Index("ix_journal_lines_entry_id", "entry_id"),
        Index("ix_journal_lines_account_id", "ledger_account_id"),
    )
