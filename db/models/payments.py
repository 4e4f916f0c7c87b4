"""Payment intents (what the member asked for), their lines, their funding attempts
(each try at a source: a savings debit or hold, a PSE transaction), allocations, holds,
PSE transactions and consecutive receipt numbers (DESIGN §4, Hyperswitch's split)."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from domain.payment_states import AttemptKind, AttemptState, HoldState, IntentState
from domain.payment_steps import OPEN_STATES_PREDICATE

from .base import Base, Money, UtcNow
from .products import pg_enum


class IntentKind(StrEnum):
    PAYMENT = "payment"  # pay obligations
    TRANSFER = "transfer"  # deposit into one's own savings account


class PaymentIntent(Base):
    __tablename__ = "payment_intents"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    kind: Mapped[IntentKind] = mapped_column(pg_enum(IntentKind, "intent_kind"))
    state: Mapped[IntentState] = mapped_column(pg_enum(IntentState, "intent_state"), default=IntentState.CREATED, server_default=text("'created'")
    )
    # One key per submitted form (DESIGN §4 rule 5), with a hash of the body so the same
    # key with another body is refused instead of silently returning the first intent.
    idempotency_key: Mapped[str] = mapped_column(String(64))
    request_hash: Mapped[str] = mapped_column(String(64))
    total_amount: Mapped[Money]
    created_at: Mapped[UtcNow]
    state_changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))
    # When the current step must have moved; the reconciler re-drives it after this.
    step_deadline_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    applied_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    failure_reason: Mapped[str | None] = mapped_column(String(200))
    receipt_number: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    redrive_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))

    lines: Mapped[list[PaymentIntentLine]] = relationship(back_populates="intent", order_by="PaymentIntentLine.id")
    attempts: Mapped[list[FundingAttempt]] = relationship(back_populates="intent", order_by="FundingAttempt.id")

    __table_args__ = (
        UniqueConstraint("member_id", "idempotency_key", name="uq_payment_intents_member_key"),
        CheckConstraint("total_amount > 0", name="total_positive"),
        # The reconciler's scan and the savings drain's claim: open intents (those a step
        # starts from) in (deadline, id) order, the claim's ORDER BY, so its LIMIT stops
        # early (migration 0016); the predicate comes from the step table (a test compares
        # it with the database's).
        Index("ix_payment_intents_pending_deadline", "step_deadline_at", "id",
              postgresql_where=text(OPEN_STATES_PREDICATE)),
        # `applying` is left in the PostgreSQL enum only because an enum value cannot be
        # dropped in place; no step stores it (see IntentState).
        CheckConstraint("state <> 'applying'", name="no_applying"),
    )


class PaymentIntentLine(Base):
    """One obligation to pay, or one own savings account to deposit into."""

    __tablename__ = "payment_intent_lines"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    intent_id: Mapped[int] = mapped_column(ForeignKey("payment_intents.id", ondelete="CASCADE"), index=True)
    obligation_id: Mapped[int | None] = mapped_column(ForeignKey("obligations.id"), index=True)
    target_savings_account_id: Mapped[int | None] = mapped_column(ForeignKey("savings_accounts.id"))
    amount: Mapped[Money]
    # Ley 1555 de 2012: a prepayment reduces the term or the installment, as the member chooses.
    prepayment_mode: Mapped[str | None] = mapped_column(String(20))

    intent: Mapped[PaymentIntent] = relationship(back_populates="lines")

    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("(obligation_id IS NULL) <> (target_savings_account_id IS NULL)", name="one_target"),
        CheckConstraint("prepayment_mode IN ('reduce_term', 'reduce_installment')", name="prepayment_mode"),
    )


class FundingAttempt(Base):
    __tablename__ = "funding_attempts"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    intent_id: Mapped[int] = mapped_column(ForeignKey("payment_intents.id", ondelete="CASCADE"), index=True)
    kind: Mapped[AttemptKind] = mapped_column(pg_enum(AttemptKind, "attempt_kind"))
    state: Mapped[AttemptState] = mapped_column(pg_enum(AttemptState, "attempt_state"), default=AttemptState.PENDING, server_default=text("'pending'")
    )
    savings_account_id: Mapped[int | None] = mapped_column(ForeignKey("savings_accounts.id"))
    amount: Mapped[Money]
    gmf_amount: Mapped[Money] = mapped_column(default=Decimal("0"), server_default=text("0"))
    created_at: Mapped[UtcNow]
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))
    decline_reason: Mapped[str | None] = mapped_column(String(200))

    intent: Mapped[PaymentIntent] = relationship(back_populates="attempts")

    __table_args__ = (
        CheckConstraint("amount > 0 AND gmf_amount >= 0", name="amounts"),
        CheckConstraint("(kind = 'savings') = (savings_account_id IS NOT NULL)", name="savings_has_account"),
    )


class Allocation(Base):
    """How a payment's money was split over one installment (or prepaid principal)."""

    __tablename__ = "allocations"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    intent_id: Mapped[int] = mapped_column(ForeignKey("payment_intents.id"), index=True)
    line_id: Mapped[int] = mapped_column(ForeignKey("payment_intent_lines.id"))
    obligation_id: Mapped[int] = mapped_column(ForeignKey("obligations.id"), index=True)
    installment_id: Mapped[int | None] = mapped_column(ForeignKey("installments.id"))
    late_interest: Mapped[Money] = mapped_column(default=Decimal("0"), server_default=text("0"))
    fees: Mapped[Money] = mapped_column(default=Decimal("0"), server_default=text("0"))
    interest: Mapped[Money] = mapped_column(default=Decimal("0"), server_default=text("0"))
    principal: Mapped[Money] = mapped_column(default=Decimal("0"), server_default=text("0"))
    is_prepayment: Mapped[bool] = mapped_column(server_default=text("false"))

    __table_args__ = (
        CheckConstraint(
            "late_interest >= 0 AND fees >= 0 AND interest >= 0 AND principal >= 0 "
            "AND late_interest + fees + interest + principal > 0",
            name="positive",
        ),
        CheckConstraint("is_prepayment = (installment_id IS NULL)", name="prepayment_has_no_installment"),
    )


class Hold(Base):
    """A two-phase transfer's pending part (TigerBeetle): money reserved in a savings
    account until it is posted (PSE approved) or voided (anything else)."""

    __tablename__ = "holds"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    savings_account_id: Mapped[int] = mapped_column(ForeignKey("savings_accounts.id"))
    attempt_id: Mapped[int] = mapped_column(ForeignKey("funding_attempts.id"), unique=True)
    amount: Mapped[Money]
    state: Mapped[HoldState] = mapped_column(pg_enum(HoldState, "hold_state"), default=HoldState.PENDING, server_default=text("'pending'")
    )
    created_at: Mapped[UtcNow]
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        Index("ix_holds_account_pending", "savings_account_id", postgresql_where=text("state = 'pending'")),
    )


class PseState(StrEnum):
    """A PSE transaction as we know it: our own steps (CREATED: ticket stored, not yet
    sent; SENT: the create left, its answer not yet stored; UNKNOWN: the answer was lost;
    NOT_CREATED: PSE refused the create or was unreachable, nothing exists there) and
    ACH's four transactionState values."""

    CREATED = "CREATED"
    SENT = "SENT"
    UNKNOWN = "UNKNOWN"
    NOT_CREATED = "NOT_CREATED"
    PENDING = "PENDING"
    OK = "OK"
    NOT_AUTHORIZED = "NOT_AUTHORIZED"
    FAILED = "FAILED"


class PseResolution(StrEnum):
    """What was done with an approved transaction's money."""

    APPLIED = "applied"            # with its intent, in the funding window
    LATE_APPLIED = "late_applied"  # after the intent expired; the obligations still owed it
    REFUNDED = "refunded"          # credited to the member's Rentadiario
    REVIEW = "review"              # contradicts what we decided: a person decides


class PseTransaction(Base):
    """One PSE transaction; the ticket is stored before the outbound create (DESIGN §5)."""

    __tablename__ = "pse_transactions"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("funding_attempts.id"), unique=True)
    ticket_id: Mapped[str] = mapped_column(String(40), unique=True)
    bank_code: Mapped[str] = mapped_column(String(10))
    bank_name: Mapped[str | None] = mapped_column(String(120))
    user_type: Mapped[int] = mapped_column(Integer)  # 0 natural person, 1 company
    amount: Mapped[Money]
    # entityurl: where the bank sends the member back (the web knows its own address).
    entity_url: Mapped[str | None] = mapped_column(String(500))
    payer_ip: Mapped[str | None] = mapped_column(String(45))
    trazability_code: Mapped[str | None] = mapped_column(String(40), unique=True)  # the CUS
    state: Mapped[str] = mapped_column(String(20), server_default=text("'CREATED'"))
    return_code: Mapped[str | None] = mapped_column(String(40))
    bank_url: Mapped[str | None] = mapped_column(String(500))
    transaction_cycle: Mapped[str | None] = mapped_column(String(10))
    created_at: Mapped[UtcNow]
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    next_poll_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    poll_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    last_query_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # final state known
    bank_process_date: Mapped[date | None] = mapped_column(Date)
    finalized_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finalize_code: Mapped[str | None] = mapped_column(String(40))
    resolution: Mapped[str | None] = mapped_column(String(20))

    __table_args__ = (
        CheckConstraint(f"state IN ({', '.join(repr(s.value) for s in PseState)})", name="state"),
        CheckConstraint(f"resolution IN ({', '.join(repr(r.value) for r in PseResolution)})", name="resolution"),
        Index("ix_pse_transactions_poll_due", "next_poll_at", postgresql_where=text("state = 'PENDING'")),
        Index("ix_pse_transactions_unsettled", "created_at",
              postgresql_where=text("state IN ('CREATED', 'SENT', 'UNKNOWN') "
                                    "OR (state = 'OK' AND finalized_at IS NULL)")),
    )


class ReceiptCounter(Base):
    """Gapless consecutive receipt numbers: a counter row locked by the applying
    transaction (a sequence would leave gaps on rollback)."""

    __tablename__ = "receipt_counters"

    series: Mapped[str] = mapped_column(String(20), primary_key=True)
    last_number: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
