"""The rows a payment reads, as immutable snapshots loaded by column name.

The wizard, `create_intent` and the worker all plan and check from these. They are not
ORM objects on purpose: a payment touches a dozen rows and the ORM's identity map, unit
of work and per-statement cache keys cost several times the database's own work on this
path (bench/bench_payment_cpu.py). They are read with SQLAlchemy Core statements on
the models' tables, selecting the columns named like each snapshot's fields and
building it from `row._mapping` (issue 9 item 3): a renamed column fails at import, a
reordered one changes nothing, so principal and interest can never be swapped by
position. Writes go through explicit statements in `processing`, each one under the
locks taken here (DESIGN §4 rule 4: intent, then savings accounts by id, then
obligations by id).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Select,
    Table,
    TextualSelect,
    any_,
    bindparam,
    case,
    cast,
    column,
    func,
    literal_column,
    null,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql.base import PGDialect
from sqlalchemy.orm import Session

from domain.amortization import PrepaymentMode
from domain.bogota_calendar import bogota_month_utc
from domain.payment_states import AttemptKind, AttemptState, IntentState

from ..holds import held_amount
from ..ledger import signed_balance_expr
from ..models import (
    FundingAttempt,
    Installment,
    IntentKind,
    JournalEntry,
    JournalLine,
    LedgerAccount,
    Loan,
    Obligation,
    ObligationKind,
    ObligationStatus,
    PaymentIntent,
    PaymentIntentLine,
    SavingsAccount,
    SavingsProduct,
    SavingsStatus,
)
from ..models.products import InstallmentFigures
from .errors import MSG_NOT_YOURS_ACCOUNT, MSG_NOT_YOURS_OBLIGATION, NotOwnedError


def columns_for(table: Table, names: Sequence[str], *, prefix: str = "") -> list[Column[Any]]:
    """The table's columns with these names (labelled `prefix + name`). A name the table
    lacks raises here, at import: a renamed column fails loudly, never silently."""
    missing = [n for n in names if n not in table.c]
    if missing:
        raise LookupError(f"{table.name} has no column(s) {missing}: the snapshot and the model disagree")
    return [table.c[n].label(prefix + n) if prefix else table.c[n] for n in names]


def field_names(snapshot: type, *, leave_out: Iterable[str] = ()) -> tuple[str, ...]:
    skip = set(leave_out)
    return tuple(f.name for f in fields(snapshot) if f.name not in skip)


def build(snapshot: type, mapping: Mapping[str, Any], names: Sequence[str], prefix: str = "", **extra: Any) -> Any:
    """The snapshot from a row's mapping, by name."""
    return snapshot(**{n: mapping[prefix + n] for n in names}, **extra)


# The generic PostgreSQL dialect: no ::type casts on binds, so text() sees :name params.
_DIALECT = PGDialect(paramstyle="named")


@dataclass(frozen=True, slots=True)
class Precompiled:
    """A Core statement compiled once, at import, into text with its typed result columns,
    and the constants it binds (passed again on every execution)."""

    statement: TextualSelect
    constants: Mapping[str, Any]

    def run(self, session: Session, params: Mapping[str, Any]) -> Any:
        return session.execute(self.statement, {**self.constants, **params})


def precompiled(statement: Select[Any]) -> Precompiled:
    """The statement is still built on the models' tables and read by name; compiling it
    once spares SQLAlchemy's per-execution cache key of a Core select, which on the
    payment hot path (up to six such reads per payment) measurably cost CPU
    (bench/bench_payment_cpu.py: create_intent about +0.3 ms without this)."""
    compiled = statement.compile(dialect=_DIALECT)
    constants = {k: v for k, v in compiled.params.items() if v is not None}
    sql = text(str(compiled)).columns(*(column(c.name, c.type) for c in statement.selected_columns))
    return Precompiled(sql, constants)


def _ids() -> Any:
    """`= ANY(:ids)` with one array parameter: the statement's text (and the driver's
    prepared statement) stays the same whatever the number of ids, unlike an expanding IN."""
    return any_(bindparam("ids", type_=ARRAY(BigInteger)))

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


_INSTALLMENT_FIELDS = field_names(InstallmentRow, leave_out=("period_start",))
_OBLIGATION_FIELDS = field_names(ObligationRow, leave_out=("loan", "unpaid"))
_LOAN_FIELDS = field_names(LoanTerms)
_installments: Table = Installment.__table__  # type: ignore[assignment]
_obligations: Table = Obligation.__table__  # type: ignore[assignment]
_loans: Table = Loan.__table__  # type: ignore[assignment]

_OBLIGATIONS = (
    select(*columns_for(_obligations, _OBLIGATION_FIELDS), *columns_for(_loans, _LOAN_FIELDS, prefix="loan_"),
           _loans.c.obligation_id.is_not(None).label("is_loan"))
    .select_from(_obligations.outerjoin(_loans, _loans.c.obligation_id == _obligations.c.id))
    .where(_obligations.c.id == _ids(),
           _obligations.c.member_id == bindparam("member_id"))
    .order_by(_obligations.c.id)
)
# FOR UPDATE OF obligations: only the obligation rows are locked, in id order. The
# installments are read by the NEXT statement, whose snapshot sees what the previous
# lock holder committed.
# NO KEY UPDATE for the same reason as the accounts' lock below.
_OBLIGATIONS_LOCK = _OBLIGATIONS.with_for_update(of=_obligations, key_share=True)
# Loans: the installment's interest period began at the previous installment's due date,
# or at the disbursement for the first (Ley 1555: interest accrues only from then).
_previous = _installments.alias("previous")
_PERIOD_START = func.coalesce(
    select(func.max(_previous.c.due_date))
    .where(_previous.c.obligation_id == _installments.c.obligation_id,
           _previous.c.due_date < _installments.c.due_date).scalar_subquery(),
    select(_loans.c.disbursement_date)
    .where(_loans.c.obligation_id == _installments.c.obligation_id).scalar_subquery(),
).label("period_start")
_UNPAID = (
    select(_installments.c.obligation_id.label("of_obligation"), *columns_for(_installments, _INSTALLMENT_FIELDS),
           _PERIOD_START)
    .where(_installments.c.obligation_id == _ids(),
           Installment.paid_total_expr() < Installment.total_expr())
    .order_by(_installments.c.obligation_id, _installments.c.due_date, _installments.c.number)
)

_OBLIGATIONS_SQL = precompiled(_OBLIGATIONS)
_OBLIGATIONS_LOCK_SQL = precompiled(_OBLIGATIONS_LOCK)
_UNPAID_SQL = precompiled(_UNPAID)


def load_obligations(
    session: Session, member_id: int, ids: Iterable[int], *, lock: bool = False
) -> dict[int, ObligationRow]:
    """The member's obligations with these ids (locked FOR UPDATE when `lock`); raises
    NotOwnedError when any id is not the member's, so ids cannot be probed."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = (_OBLIGATIONS_LOCK_SQL if lock else _OBLIGATIONS_SQL).run(
        session, {"ids": wanted, "member_id": member_id}).all()
    if len(rows) != len(wanted):
        raise NotOwnedError(MSG_NOT_YOURS_OBLIGATION)
    unpaid: dict[int, list[InstallmentRow]] = {oid: [] for oid in wanted}
    for r in _UNPAID_SQL.run(session, {"ids": wanted}):
        m = r._mapping
        unpaid[m["of_obligation"]].append(build(InstallmentRow, m, _INSTALLMENT_FIELDS, period_start=m["period_start"]))
    out: dict[int, ObligationRow] = {}
    for r in rows:
        m = r._mapping
        loan = build(LoanTerms, m, _LOAN_FIELDS, "loan_") if m["is_loan"] else None
        out[m["id"]] = build(ObligationRow, m, _OBLIGATION_FIELDS, loan=loan, unpaid=tuple(unpaid[m["id"]]))
    return out


_ACTIVE_OBLIGATION_IDS = (select(_obligations.c.id)
                          .where(_obligations.c.member_id == bindparam("member_id"),
                                 _obligations.c.status == ObligationStatus.ACTIVE)
                          .order_by(_obligations.c.id))


def active_obligation_ids(session: Session, member_id: int) -> list[int]:
    return list(session.execute(_ACTIVE_OBLIGATION_IDS, {"member_id": member_id}).scalars())


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
    # The marked GMF-exempt account only (0 for others): what it debited this Bogotá month
    # outside transfers between own accounts, against its 350 UVT allowance (db/payments/gmf).
    exempt_debited: Decimal

    @property
    def label(self) -> str:
        return f"{self.product.value.capitalize()} {self.number}"


_ACCOUNT_FIELDS = field_names(SavingsRow, leave_out=("balance", "held", "exempt_debited"))
_accounts: Table = SavingsAccount.__table__  # type: ignore[assignment]
_ledger_accounts: Table = LedgerAccount.__table__  # type: ignore[assignment]
_lines: Table = JournalLine.__table__  # type: ignore[assignment]

# The balance is summed from the account's ledger lines (the ledger is the only truth),
# in the account's own sense; the held amount is db.holds' one definition.
_BALANCE = (
    select(signed_balance_expr(_ledger_accounts.c.nature, func.coalesce(func.sum(_lines.c.debit), 0),
                               func.coalesce(func.sum(_lines.c.credit), 0)))
    .where(_lines.c.ledger_account_id == _accounts.c.ledger_account_id)
    .scalar_subquery()
)
_entries: Table = JournalEntry.__table__  # type: ignore[assignment]
# Read in the same statement as the balance (not a query of its own): the exempt account
# pays from every payment's hot path. The lines are found by account (its index) and each
# one's entry by primary key in a subquery the planner cannot turn around: joined, it chose
# a sequential scan of journal_entries (2.8 ms on 6,000 entries, and growing with the ledger).
_ENTRY_USES_ALLOWANCE = (
    select((_entries.c.posted_at >= bindparam("month_start", type_=DateTime(timezone=True)))
           & (_entries.c.posted_at < bindparam("month_end", type_=DateTime(timezone=True)))
           & (_entries.c.kind != "transfer"))  # ET art. 879 num. 14: exempt by itself
    .where(_entries.c.id == _lines.c.entry_id)
    .scalar_subquery()
)
_EXEMPT_DEBITED = case(
    (_accounts.c.gmf_exempt,
     select(func.coalesce(func.sum(_lines.c.debit), 0))
     .where(_lines.c.ledger_account_id == _accounts.c.ledger_account_id, _lines.c.debit > 0, _ENTRY_USES_ALLOWANCE)
     .scalar_subquery()),
    else_=0,
)
_ACCOUNTS = (
    select(*columns_for(_accounts, _ACCOUNT_FIELDS), _BALANCE.label("balance"),
           held_amount(_accounts.c.id, exclude_intent_id=bindparam("exclude_intent_id")).label("held"),
           _EXEMPT_DEBITED.label("exempt_debited"))
    .select_from(_accounts.join(_ledger_accounts, _ledger_accounts.c.id == _accounts.c.ledger_account_id))
    .where(_accounts.c.id == _ids(), _accounts.c.member_id == bindparam("member_id"))
    .order_by(_accounts.c.id)
)
# Locking is its own statement, BEFORE the one that sums: a statement that waited for a
# row lock re-reads the locked row but keeps its older snapshot for everything else, so
# sums taken in it would miss the payment that held the lock, and overdraw the account.
_LOCK_ACCOUNTS = (
    select(_accounts.c.id)
    .where(_accounts.c.id == _ids(), _accounts.c.member_id == bindparam("member_id"))
    .order_by(_accounts.c.id)
    # NO KEY UPDATE, not UPDATE: the rows' keys never change here, and a plain FOR UPDATE
    # would also block the FOR KEY SHARE that every foreign-key check on these rows takes
    # (a new intent's lines and attempts); a payment being created while another one is
    # applied then deadlocked (found by the scale-out test).
    .with_for_update(key_share=True)
)

_ACCOUNTS_SQL = precompiled(_ACCOUNTS)
_LOCK_ACCOUNTS_SQL = precompiled(_LOCK_ACCOUNTS)


def load_accounts(
    session: Session, member_id: int, ids: Iterable[int], *, today: date, lock: bool = False,
    exclude_intent_id: int | None = None,
) -> dict[int, SavingsRow]:
    """The member's savings accounts with these ids, with balance, holds and, for the
    GMF-exempt one, what it debited in `today`'s Bogotá month (locked FOR UPDATE when
    `lock`); an intent's own holds reserve money FOR it and are excluded."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    if lock:
        _LOCK_ACCOUNTS_SQL.run(session, {"ids": wanted, "member_id": member_id})
    month_start, month_end = bogota_month_utc(today)
    rows = _ACCOUNTS_SQL.run(
        session, {"ids": wanted, "member_id": member_id, "exclude_intent_id": exclude_intent_id,
                  "month_start": month_start, "month_end": month_end}).all()
    if len(rows) != len(wanted):
        raise NotOwnedError(MSG_NOT_YOURS_ACCOUNT)
    out: dict[int, SavingsRow] = {}
    for r in rows:
        m = r._mapping
        out[m["id"]] = build(SavingsRow, m, _ACCOUNT_FIELDS, balance=Decimal(m["balance"]).quantize(ZERO),
                             held=Decimal(m["held"]).quantize(ZERO),
                             exempt_debited=Decimal(m["exempt_debited"]).quantize(ZERO))
    return out


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
    created_at: datetime
    lines: tuple[LineRow, ...]
    attempts: tuple[AttemptRow, ...]

    @property
    def external(self) -> bool:
        """Funded (partly) by an outside party: takes the two-phase hold path."""
        return any(a.kind is AttemptKind.PSE for a in self.attempts)


_INTENT_FIELDS = field_names(IntentRow, leave_out=("lines", "attempts"))
_LINE_FIELDS = field_names(LineRow)
_ATTEMPT_FIELDS = field_names(AttemptRow)
_intents: Table = PaymentIntent.__table__  # type: ignore[assignment]
_intent_lines: Table = PaymentIntentLine.__table__  # type: ignore[assignment]
_attempts: Table = FundingAttempt.__table__  # type: ignore[assignment]

_LOCK_INTENT = (select(*columns_for(_intents, _INTENT_FIELDS))
                .where(_intents.c.id == bindparam("id")).with_for_update(key_share=True))


def _nulls_like(table: Table, names: Sequence[str], prefix: str) -> list[Any]:
    """Typed NULLs standing for the other part's columns in the UNION below."""
    return [cast(null(), table.c[n].type).label(prefix + n) for n in names]


# Lines and funding attempts in one round trip (the worker's hot path). Each column has
# ONE meaning: a line row carries the line's columns and NULL in the attempt's, and the
# other way round; `part` tells them apart.
_LINES_AND_ATTEMPTS = select(
    literal_column("'line'").label("part"), *columns_for(_intent_lines, _LINE_FIELDS, prefix="line_"),
    *_nulls_like(_attempts, _ATTEMPT_FIELDS, "attempt_"),
).where(_intent_lines.c.intent_id == bindparam("id")).union_all(select(
    literal_column("'attempt'"), *_nulls_like(_intent_lines, _LINE_FIELDS, "line_"),
    *columns_for(_attempts, _ATTEMPT_FIELDS, prefix="attempt_"),
).where(_attempts.c.intent_id == bindparam("id")))
_LINES_AND_ATTEMPTS = select(_LINES_AND_ATTEMPTS.subquery("parts")).order_by(
    "part", "line_id", "attempt_id")

_LOCK_INTENT_SQL = precompiled(_LOCK_INTENT)
_LINES_AND_ATTEMPTS_SQL = precompiled(_LINES_AND_ATTEMPTS)


def lock_intent(session: Session, intent_id: int) -> IntentRow | None:
    """Lock the intent row (DESIGN §4 rule 1) and read its lines and funding attempts."""
    head = _LOCK_INTENT_SQL.run(session, {"id": intent_id}).first()
    if head is None:
        return None
    lines: list[LineRow] = []
    attempts: list[AttemptRow] = []
    for r in _LINES_AND_ATTEMPTS_SQL.run(session, {"id": intent_id}):
        m = r._mapping
        if m["part"] == "line":
            line = build(LineRow, m, _LINE_FIELDS, "line_")
            if line.prepayment_mode is not None:
                line = LineRow(line.id, line.obligation_id, line.target_savings_account_id, line.amount,
                               PrepaymentMode(line.prepayment_mode))
            lines.append(line)
        else:
            attempts.append(build(AttemptRow, m, _ATTEMPT_FIELDS, "attempt_"))
    return build(IntentRow, head._mapping, _INTENT_FIELDS, lines=tuple(lines), attempts=tuple(attempts))


__all__ = [
    "AttemptRow", "InstallmentRow", "IntentRow", "LineRow", "LoanTerms", "ObligationRow", "SavingsRow",
    "active_obligation_ids", "build", "columns_for", "field_names", "load_accounts", "load_obligations",
    "lock_intent",
]
