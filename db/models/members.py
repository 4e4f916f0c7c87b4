"""Members (asociados), their paying entities and their credentials."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import text, Boolean, CheckConstraint, Date, DateTime, ForeignKey, Integer, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, Money, UtcNow

DOCUMENT_TYPES = ("CC", "CE", "TI", "PA", "NIT", "PPT")


class PayingEntity(Base):
    """A pagaduría: the employer that deducts the member's dues from payroll."""

    __tablename__ = "paying_entities"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(10), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    # Share of the basic salary that may be committed to payroll deductions.
    deduction_factor: Mapped[Decimal] = mapped_column(Numeric(5, 4))

    __table_args__ = (CheckConstraint("deduction_factor > 0 AND deduction_factor <= 1", name="factor_range"),)

    @property
    def label(self) -> str:
        return f"{self.code}-{self.name}"


class Member(Base):
    __tablename__ = "members"

    id: Mapped[int] = mapped_column(primary_key=True)
    document_type: Mapped[str] = mapped_column(String(4))
    document_number: Mapped[str] = mapped_column(String(20))
    first_names: Mapped[str] = mapped_column(String(80))
    last_names: Mapped[str] = mapped_column(String(80))
    mobile: Mapped[str] = mapped_column(String(20))
    email: Mapped[str] = mapped_column(String(254))
    address: Mapped[str | None] = mapped_column(String(120))
    city: Mapped[str | None] = mapped_column(String(60))
    paying_entity_id: Mapped[int] = mapped_column(ForeignKey("paying_entities.id"))
    basic_salary: Mapped[Money]
    join_date: Mapped[date] = mapped_column(Date)
    # Habeas data (Ley 1581 de 2012): when and which version of the notice was accepted.
    data_consent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    data_consent_version: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[UtcNow]

    paying_entity: Mapped[PayingEntity] = relationship(lazy="joined")
    credential: Mapped[Credential] = relationship(back_populates="member", uselist=False)

    __table_args__ = (
        UniqueConstraint("document_type", "document_number", name="uq_members_document"),
        CheckConstraint(f"document_type IN {DOCUMENT_TYPES!r}", name="document_type"),
        CheckConstraint("basic_salary >= 0", name="salary_nonnegative"),
    )

    @property
    def full_name(self) -> str:
        return f"{self.first_names} {self.last_names}"


class Credential(Base):
    """Secrets are argon2id hashes; the temporary key is single use and short lived."""

    __tablename__ = "credentials"

    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), primary_key=True)
    password_hash: Mapped[str | None] = mapped_column(String(200))
    temp_key_hash: Mapped[str | None] = mapped_column(String(200))
    temp_key_channel: Mapped[str | None] = mapped_column(String(10))
    temp_key_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    temp_key_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    must_change: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    security_image: Mapped[str | None] = mapped_column(String(60))
    security_phrase: Mapped[str | None] = mapped_column(String(60))
    password_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_login_ip: Mapped[str | None] = mapped_column(String(45))

    member: Mapped[Member] = relationship(back_populates="credential")

    __table_args__ = (
        CheckConstraint("temp_key_channel IN ('sms', 'email')", name="temp_key_channel"),
        CheckConstraint("failed_attempts >= 0", name="failed_attempts_nonnegative"),
    )
