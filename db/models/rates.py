"""Certified usury rates and the late interest accrued under them.

`usury_rates` holds the Superintendencia Financiera's monthly certifications (consumo y
ordinario) with their source; `late_interest_accruals` is the ledger's memory of which
days of which installment have been charged, so the daily job posts each day once.
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import BigInteger, CheckConstraint, Date, ForeignKey, Integer, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, Money, UtcNow


class UsuryRateRow(Base):
    """One month's certified usury rate (E.A., a fraction: 0.2436 is 24.36 %)."""

    __tablename__ = "usury_rates"

    # The first day of the month the certification governs.
    period: Mapped[date] = mapped_column(Date, primary_key=True)
    ea: Mapped[Decimal] = mapped_column(Numeric(10, 8))
    # The resolution or the public report of it the figure was read from.
    source: Mapped[str] = mapped_column(String(400))
    loaded_at: Mapped[UtcNow]

    __table_args__ = (
        CheckConstraint("extract(day from period) = 1", name="period_is_month"),
        CheckConstraint("ea > 0 AND ea < 2", name="ea_range"),
        CheckConstraint("length(source) > 0", name="source_given"),
    )


class LateInterestAccrual(Base):
    """Late interest charged on one installment for the days after the previous accrual
    through `accrued_through`. The unique key is what makes the daily job idempotent:
    a second run for the same day finds the row and posts nothing."""

    __tablename__ = "late_interest_accruals"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    installment_id: Mapped[int] = mapped_column(ForeignKey("installments.id", ondelete="CASCADE"))
    accrued_through: Mapped[date] = mapped_column(Date)
    days: Mapped[int] = mapped_column(Integer)
    overdue_principal: Mapped[Money]
    amount: Mapped[Money]
    journal_entry_id: Mapped[int] = mapped_column(ForeignKey("journal_entries.id"))
    created_at: Mapped[UtcNow]

    __table_args__ = (
        UniqueConstraint("installment_id", "accrued_through", name="uq_late_interest_accruals_installment_day"),
        CheckConstraint("days > 0 AND amount > 0 AND overdue_principal > 0", name="positive"),
    )
