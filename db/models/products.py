"""The member's products: obligations with installments, savings accounts, CDATs, cards,
payroll discounts.

Everything a member can pay is an `Obligation` with `Installment`s (aportes and ahorro
permanente are monthly dues whose installments are all principal; loans add interest,
fees and late interest), so the payment wizard and the allocation strategy treat every
kind alike. Balances are never stored here: they are derived from ledger lines.
"""
from __future__ import annotations

import functools
import operator
from datetime import date
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import (
    text,
    Boolean,
    CheckConstraint,
    Date,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy import ColumnElement
from sqlalchemy.orm import Mapped, mapped_column, relationship

from domain.allocation import ALLOCATION_ORDER, PAID_PREFIX, AllocationRow, InstallmentDue

from .base import Base, Money, Rate, UtcNow


def pg_enum(enum_cls: type[StrEnum], name: str) -> Enum:
    """Store the enum's values (not its member names) in a named PostgreSQL enum."""
    return Enum(enum_cls, name=name, values_callable=lambda e: [m.value for m in e])


class ObligationKind(StrEnum):
    APORTES = "aportes"
    AHORRO_PERMANENTE = "ahorro_permanente"
    LOAN = "credito"
    CARD = "tarjeta"
    OTHER = "otra"


class ObligationStatus(StrEnum):
    ACTIVE = "active"
    PAID_OFF = "paid_off"
    CLOSED = "closed"


class SavingsProduct(StrEnum):
    RENTADIARIO = "rentadiario"
    RENTAHORRITO = "rentahorrito"


class SavingsStatus(StrEnum):
    ACTIVE = "active"
    DORMANT = "dormant"
    EMBARGOED = "embargoed"


class Obligation(Base):
    __tablename__ = "obligations"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    kind: Mapped[ObligationKind] = mapped_column(pg_enum(ObligationKind, "obligation_kind"))
    number: Mapped[str] = mapped_column(String(30), unique=True)
    description: Mapped[str] = mapped_column(String(120))
    status: Mapped[ObligationStatus] = mapped_column(
        pg_enum(ObligationStatus, "obligation_status"), default=ObligationStatus.ACTIVE,
        server_default=text("'active'"),
    )
    # Monthly dues for aportes / ahorro permanente; the French installment for loans.
    installment_amount: Mapped[Money]
    # Where a payment's principal is credited (member's aportes, loan receivable, ...).
    ledger_account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"))
    opened_on: Mapped[date] = mapped_column(Date)
    created_at: Mapped[UtcNow]

    installments: Mapped[list[Installment]] = relationship(
        back_populates="obligation", order_by="Installment.number"
    )
    loan: Mapped[Loan | None] = relationship(back_populates="obligation", uselist=False)
    card: Mapped[Card | None] = relationship(back_populates="obligation", uselist=False)


class Loan(Base):
    __tablename__ = "loans"

    obligation_id: Mapped[int] = mapped_column(ForeignKey("obligations.id", ondelete="CASCADE"), primary_key=True)
    product_name: Mapped[str] = mapped_column(String(60))
    amount: Mapped[Money]
    ea_rate: Mapped[Rate]
    late_ea_rate: Mapped[Rate]
    term_months: Mapped[int] = mapped_column(Integer)
    disbursement_date: Mapped[date] = mapped_column(Date)
    # Monthly life/credit insurance billed with each installment.
    monthly_fee: Mapped[Money] = mapped_column(default=Decimal("0"), server_default=text("0"))

    obligation: Mapped[Obligation] = relationship(back_populates="loan")

    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("term_months BETWEEN 1 AND 600", name="term_range"),
        CheckConstraint("ea_rate >= 0 AND late_ea_rate >= 0", name="rates_nonnegative"),
    )


class Card(Base):
    __tablename__ = "cards"

    obligation_id: Mapped[int] = mapped_column(ForeignKey("obligations.id", ondelete="CASCADE"), primary_key=True)
    brand: Mapped[str] = mapped_column(String(20))
    masked_number: Mapped[str] = mapped_column(String(19))
    credit_limit: Mapped[Money]

    obligation: Mapped[Obligation] = relationship(back_populates="card")


class InstallmentFigures:
    """What an installment owes, derived from its billed and paid components; shared by
    the ORM row below and the payment hot path's snapshot (db/payments/snapshots.py).
    The one place the four components (domain.allocation.ALLOCATION_ORDER: late
    interest, fees, interest, principal) are summed, in Python and in SQL. Expects the
    attributes id, number, due_date, each component and its paid_* counterpart."""

    __slots__ = ()

    # Spelled out rather than summed with getattr: this runs per installment on the
    # payment hot path. test_installment_figures_cover_every_component holds the two
    # forms equal to ALLOCATION_ORDER.
    @property
    def total(self) -> Decimal:
        return self.late_interest + self.fees + self.interest + self.principal

    @property
    def paid(self) -> Decimal:
        return self.paid_late_interest + self.paid_fees + self.paid_interest + self.paid_principal

    @property
    def outstanding(self) -> Decimal:
        return self.total - self.paid

    def as_due(self) -> InstallmentDue:
        """What is still owed, component by component, for the allocation strategy."""
        return InstallmentDue(
            installment_id=self.id, number=self.number, due_date=self.due_date,
            **{c.value: getattr(self, c.value) - getattr(self, PAID_PREFIX + c.value) for c in ALLOCATION_ORDER},
        )

    @classmethod
    def total_expr(cls) -> ColumnElement[Decimal]:
        """SQL: what the installment bills, over the model's columns."""
        table = cls.__table__  # type: ignore[attr-defined]
        return functools.reduce(operator.add, (table.c[c.value] for c in ALLOCATION_ORDER))

    @classmethod
    def paid_total_expr(cls) -> ColumnElement[Decimal]:
        """SQL: what has been paid of it."""
        table = cls.__table__  # type: ignore[attr-defined]
        return functools.reduce(operator.add, (table.c[PAID_PREFIX + c.value] for c in ALLOCATION_ORDER))


class Installment(InstallmentFigures, Base):
    """One installment: what is billed of each component and what has been paid of it."""

    __tablename__ = "installments"

    id: Mapped[int] = mapped_column(primary_key=True)
    obligation_id: Mapped[int] = mapped_column(ForeignKey("obligations.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    due_date: Mapped[date] = mapped_column(Date)
    principal: Mapped[Money]
    interest: Mapped[Money] = mapped_column(default=Decimal("0"), server_default=text("0"))
    fees: Mapped[Money] = mapped_column(default=Decimal("0"), server_default=text("0"))
    late_interest: Mapped[Money] = mapped_column(default=Decimal("0"), server_default=text("0"))
    paid_principal: Mapped[Money] = mapped_column(default=Decimal("0"), server_default=text("0"))
    paid_interest: Mapped[Money] = mapped_column(default=Decimal("0"), server_default=text("0"))
    paid_fees: Mapped[Money] = mapped_column(default=Decimal("0"), server_default=text("0"))
    paid_late_interest: Mapped[Money] = mapped_column(default=Decimal("0"), server_default=text("0"))
    # The month a dues installment (aportes, ahorro permanente) bills, its first day; the
    # unique key below makes the monthly dues job idempotent per period. NULL for loans,
    # whose installments follow their schedule instead.
    period: Mapped[date | None] = mapped_column(Date)

    obligation: Mapped[Obligation] = relationship(back_populates="installments")

    __table_args__ = (
        UniqueConstraint("obligation_id", "number", name="uq_installments_obligation_number"),
        UniqueConstraint("obligation_id", "period", name="uq_installments_obligation_period"),
        CheckConstraint("extract(day from period) = 1", name="period_is_month"),
        Index("ix_installments_obligation_due", "obligation_id", "due_date"),
        # Nothing is ever paid beyond what was billed, component by component.
        CheckConstraint(
            "paid_principal BETWEEN 0 AND principal AND paid_interest BETWEEN 0 AND interest "
            "AND paid_fees BETWEEN 0 AND fees AND paid_late_interest BETWEEN 0 AND late_interest",
            name="paid_within_billed",
        ),
        CheckConstraint("principal >= 0 AND interest >= 0 AND fees >= 0 AND late_interest >= 0", name="nonnegative"),
    )

    def record(self, row: AllocationRow) -> None:
        """Add an allocation's split to what has been paid (the CHECK keeps it ≤ billed)."""
        self.paid_late_interest += row.late_interest
        self.paid_fees += row.fees
        self.paid_interest += row.interest
        self.paid_principal += row.principal


class SavingsAccount(Base):
    """An on-demand savings account; its balance is the sum of its ledger lines."""

    __tablename__ = "savings_accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    product: Mapped[SavingsProduct] = mapped_column(pg_enum(SavingsProduct, "savings_product"))
    number: Mapped[str] = mapped_column(String(30), unique=True)
    status: Mapped[SavingsStatus] = mapped_column(pg_enum(SavingsStatus, "savings_status"), default=SavingsStatus.ACTIVE, server_default=text("'active'")
    )
    minimum_balance: Mapped[Money] = mapped_column(default=Decimal("0"), server_default=text("0"))
    # Estatuto Tributario art. 879 num. 1: the member marks ONE savings account whose debits
    # are GMF-exempt up to 350 UVT a month (domain/gmf.py); the partial unique index below
    # keeps it to one per member (migration 0008).
    gmf_exempt: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    ledger_account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"), unique=True)
    opened_on: Mapped[date] = mapped_column(Date)

    __table_args__ = (
        CheckConstraint("minimum_balance >= 0", name="minimum_nonnegative"),
        Index("uq_savings_accounts_one_gmf_exempt_per_member", "member_id", unique=True,
              postgresql_where=text("gmf_exempt")),
    )


class Cdat(Base):
    """Certificado de depósito de ahorro a término."""

    __tablename__ = "cdats"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    number: Mapped[str] = mapped_column(String(30), unique=True)
    amount: Mapped[Money]
    ea_rate: Mapped[Rate]
    term_days: Mapped[int] = mapped_column(Integer)
    opened_on: Mapped[date] = mapped_column(Date)
    maturity_on: Mapped[date] = mapped_column(Date)
    ledger_account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"))

    __table_args__ = (CheckConstraint("amount > 0 AND term_days > 0", name="positive"),)


class PayrollDiscount(Base):
    """What the paying entity deducts from the member's payroll in a period (month)."""

    __tablename__ = "payroll_discounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    period: Mapped[date] = mapped_column(Date)  # first day of the month
    concept: Mapped[str] = mapped_column(String(60))
    # The obligation the discount pays, when it is one of ours (not an outside libranza).
    obligation_id: Mapped[int | None] = mapped_column(ForeignKey("obligations.id"))
    amount: Mapped[Money]

    __table_args__ = (
        UniqueConstraint("member_id", "period", "concept", name="uq_payroll_discounts_member_period_concept"),
        CheckConstraint("amount >= 0", name="amount_nonnegative"),
        CheckConstraint("extract(day from period) = 1", name="period_is_month"),
    )
