"""The rows a payment reads, as immutable snapshots loaded with plain SQL.

The wizard, `create_intent` and the worker all plan and check from these. They are not
ORM objects on purpose: a payment touches a dozen rows and the ORM's identity map, unit
of work and per-statement cache keys cost several times the database's own work on this
path (bench/bench_payment_cpu.py). Writes go through explicit statements in
`processing`, each one under the locks taken here (DESIGN §4 rule 4: intent, then
savings accounts by id, then obligations by id).
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.orm import Session

from domain.amortization import PrepaymentMode
from domain.payment_states import AttemptKind, AttemptState, IntentState

from ..models import IntentKind, ObligationKind, ObligationStatus, SavingsProduct, SavingsStatus
from ..models.products import InstallmentFigures
from .errors import MSG_NOT_YOURS_ACCOUNT, MSG_NOT_YOURS_OBLIGATION, NotOwnedError

ZERO = Decimal("0.00")


# ---------------------------------------------------------------- obligations


@dataclass(frozen=True, slots=True)
class InstallmentRow(InstallmentFigures):
    id: int
    number: int
    due_date: date
    principal: Decimal
    interest: Decimal
    fees: Decimal
    late_interest: Decimal
    paid_principal: Decimal
    paid_interest: Decimal
    paid_fees: Decimal
    paid_late_interest: Decimal
    # Loans: when the installment's interest period began (the previous installment's due
    # date, or the disbursement for the first); interest accrues only from then (Ley 1555).
    period_start: date | None = None


@dataclass(frozen=True, slots=True)
class LoanTerms:
    ea_rate: Decimal
    monthly_fee: Decimal


@dataclass(frozen=True, slots=True)
class ObligationRow:
    id: int
    member_id: int
    kind: ObligationKind
    number: str
    description: str
    status: ObligationStatus
    installment_amount: Decimal
    ledger_account_id: int
    loan: LoanTerms | None
    # Only the installments with something left to pay, oldest first (due date, number).
    unpaid: tuple[InstallmentRow, ...]


_OBLIGATIONS = """
    SELECT o.id, o.member_id, o.kind::text, o.number, o.description, o.status::text, o.installment_amount,
           o.ledger_account_id, l.obligation_id IS NOT NULL AS is_loan, l.ea_rate, l.monthly_fee
    FROM obligations o LEFT JOIN loans l ON l.obligation_id = o.id
    WHERE o.id = ANY(:ids) AND o.member_id = :member_id
    ORDER BY o.id"""
_OBLIGATIONS_SQL = text(_OBLIGATIONS)
# FOR UPDATE OF o: only the obligation rows are locked, in id order. The installments are
# read by the NEXT statement, whose snapshot sees what the previous lock holder committed.
_OBLIGATIONS_LOCK_SQL = text(_OBLIGATIONS + " FOR UPDATE OF o")
_UNPAID_SQL = text("""
    SELECT obligation_id, id, number, due_date, principal, interest, fees, late_interest,
           paid_principal, paid_interest, paid_fees, paid_late_interest,
           coalesce((SELECT max(p.due_date) FROM installments p
                      WHERE p.obligation_id = i.obligation_id AND p.due_date < i.due_date),
                    (SELECT l.disbursement_date FROM loans l WHERE l.obligation_id = i.obligation_id)) AS period_start
    FROM installments i
    WHERE obligation_id = ANY(:ids)
      AND paid_principal + paid_interest + paid_fees + paid_late_interest < principal + interest + fees + late_interest
    ORDER BY obligation_id, due_date, number""")


def load_obligations(
    session: Session, member_id: int, ids: Iterable[int], *, lock: bool = False
) -> dict[int, ObligationRow]:
    """The member's obligations with these ids (locked FOR UPDATE when `lock`); raises
    NotOwnedError when any id is not the member's, so ids cannot be probed."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = session.execute(_OBLIGATIONS_LOCK_SQL if lock else _OBLIGATIONS_SQL,
                        {"ids": wanted, "member_id": member_id}).all()
    if len(rows) != len(wanted):
        raise NotOwnedError(MSG_NOT_YOURS_OBLIGATION)
    unpaid: dict[int, list[InstallmentRow]] = {oid: [] for oid in wanted}
    for r in session.execute(_UNPAID_SQL, {"ids": wanted}):
        unpaid[r[0]].append(InstallmentRow(*r[1:]))
    return {
        r[0]: ObligationRow(
            id=r[0], member_id=r[1], kind=ObligationKind(r[2]), number=r[3], description=r[4],
            status=ObligationStatus(r[5]), installment_amount=r[6], ledger_account_id=r[7],
            loan=LoanTerms(r[9], r[10]) if r[8] else None, unpaid=tuple(unpaid[r[0]]),
        )
        for r in rows
    }


_ACTIVE_OBLIGATION_IDS_SQL = text(
    "SELECT id FROM obligations WHERE member_id = :member_id AND status = 'active' ORDER BY id")


def active_obligation_ids(session: Session, member_id: int) -> list[int]:
    return list(session.execute(_ACTIVE_OBLIGATION_IDS_SQL, {"member_id": member_id}).scalars())


# ---------------------------------------------------------------- savings accounts


@dataclass(frozen=True, slots=True)
class SavingsRow:
    id: int
    member_id: int
    product: SavingsProduct
    number: str
    status: SavingsStatus
    minimum_balance: Decimal
    gmf_exempt: bool
    ledger_account_id: int
    balance: Decimal  # from the posted ledger lines
    held: Decimal  # pending holds, other than the excluded intent's own

    @property
    def label(self) -> str:
        return f"{self.product.value.capitalize()} {self.number}"


# The balance is summed from the account's ledger lines (the ledger is the only truth)
# and the holds from the pending ones.
_ACCOUNTS_SQL = text("""
    SELECT s.id, s.member_id, s.product::text, s.number, s.status::text, s.minimum_balance, s.gmf_exempt,
           s.ledger_account_id,
           (SELECT CASE WHEN la.nature = 'debit' THEN coalesce(sum(jl.debit), 0) - coalesce(sum(jl.credit), 0)
                        ELSE coalesce(sum(jl.credit), 0) - coalesce(sum(jl.debit), 0) END
              FROM journal_lines jl WHERE jl.ledger_account_id = s.ledger_account_id) AS balance,
           (SELECT coalesce(sum(h.amount), 0) FROM holds h JOIN funding_attempts f ON f.id = h.attempt_id
              WHERE h.savings_account_id = s.id AND h.state = 'pending'
                AND f.intent_id IS DISTINCT FROM :exclude_intent_id) AS held
    FROM savings_accounts s JOIN ledger_accounts la ON la.id = s.ledger_account_id
    WHERE s.id = ANY(:ids) AND s.member_id = :member_id
    ORDER BY s.id""")
# Locking is its own statement, BEFORE the one that sums: a statement that waited for a
# row lock re-reads the locked row but keeps its older snapshot for everything else, so
# sums taken in it would miss the payment that held the lock, and overdraw the account.
_LOCK_ACCOUNTS_SQL = text(
    "SELECT id FROM savings_accounts WHERE id = ANY(:ids) AND member_id = :member_id ORDER BY id FOR UPDATE")


def load_accounts(
    session: Session, member_id: int, ids: Iterable[int], *, lock: bool = False,
    exclude_intent_id: int | None = None,
) -> dict[int, SavingsRow]:
    """The member's savings accounts with these ids, with balance and holds (locked FOR
    UPDATE when `lock`); an intent's own holds reserve money FOR it and are excluded."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    if lock:
        session.execute(_LOCK_ACCOUNTS_SQL, {"ids": wanted, "member_id": member_id})
    rows = session.execute(
        _ACCOUNTS_SQL, {"ids": wanted, "member_id": member_id, "exclude_intent_id": exclude_intent_id}
    ).all()
    if len(rows) != len(wanted):
        raise NotOwnedError(MSG_NOT_YOURS_ACCOUNT)
    return {
        r[0]: SavingsRow(
            id=r[0], member_id=r[1], product=SavingsProduct(r[2]), number=r[3], status=SavingsStatus(r[4]),
            minimum_balance=r[5], gmf_exempt=r[6], ledger_account_id=r[7], balance=Decimal(r[8]).quantize(ZERO),
            held=Decimal(r[9]).quantize(ZERO),
        )
        for r in rows
    }


# ---------------------------------------------------------------- payment intents


@dataclass(frozen=True, slots=True)
class LineRow:
    id: int
    obligation_id: int | None
    target_savings_account_id: int | None
    amount: Decimal
    prepayment_mode: PrepaymentMode | None


@dataclass(frozen=True, slots=True)
class AttemptRow:
    id: int
    kind: AttemptKind
    state: AttemptState
    savings_account_id: int | None
    amount: Decimal
    gmf_amount: Decimal


@dataclass(frozen=True, slots=True)
class IntentRow:
    id: int
    member_id: int
    kind: IntentKind
    state: IntentState
    total_amount: Decimal
    lines: tuple[LineRow, ...]
    attempts: tuple[AttemptRow, ...]

    @property
    def external(self) -> bool:
        """Funded (partly) by an outside party: takes the two-phase hold path."""
        return any(a.kind is AttemptKind.PSE for a in self.attempts)


_LOCK_INTENT_SQL = text(
    "SELECT id, member_id, kind::text, state::text, total_amount FROM payment_intents WHERE id = :id FOR UPDATE")
# Lines and funding attempts in one round trip ('l' / 'a' rows, each in id order).
_LINES_AND_ATTEMPTS_SQL = text("""
    SELECT 'l' AS what, id, obligation_id AS a, target_savings_account_id AS b, amount, prepayment_mode AS c,
           NULL AS d, NULL::numeric AS gmf
    FROM payment_intent_lines WHERE intent_id = :id
    UNION ALL
    SELECT 'a', id, NULL, savings_account_id, amount, kind::text, state::text, gmf_amount
    FROM funding_attempts WHERE intent_id = :id
    ORDER BY 1 DESC, 2""")


def lock_intent(session: Session, intent_id: int) -> IntentRow | None:
    """Lock the intent row (DESIGN §4 rule 1) and read its lines and funding attempts."""
    head = session.execute(_LOCK_INTENT_SQL, {"id": intent_id}).first()
    if head is None:
        return None
    lines: list[LineRow] = []
    attempts: list[AttemptRow] = []
    for what, row_id, a, b, amount, c, d, gmf_amount in session.execute(_LINES_AND_ATTEMPTS_SQL, {"id": intent_id}):
        if what == "l":
            lines.append(LineRow(row_id, a, b, amount, PrepaymentMode(c) if c else None))
        else:
            attempts.append(AttemptRow(row_id, AttemptKind(c), AttemptState(d), b, amount, gmf_amount))
    return IntentRow(head[0], head[1], IntentKind(head[2]), IntentState(head[3]), head[4], tuple(lines),
                     tuple(attempts))


__all__ = [
    "AttemptRow", "InstallmentRow", "IntentRow", "LineRow", "LoanTerms", "ObligationRow", "SavingsRow",
    "active_obligation_ids", "load_accounts", "load_obligations", "lock_intent",
]
