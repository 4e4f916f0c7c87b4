"""The consolidated statement of account (Estado de cuenta): per product, the opening
balance, the period's movements with their journal entry's description, the closing
balance, and what is due and overdue. Read from the ledger only (nothing stored twice):
a product's balance is the sum of its ledger account's lines, in the account's sense."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from domain.statement_period import Period

from ..models import Cdat, Installment, Obligation, ObligationKind, SavingsAccount

ZERO = Decimal("0.00")

# The manual's sub-tabs, in its order: the statement groups products the same way.
GROUP_ORDER: tuple[str, ...] = ("Aportes", "Ahorros", "Créditos", "CDATS", "Tarjetas", "Otras Obligaciones")
_OBLIGATION_GROUPS: dict[ObligationKind, str] = {
    ObligationKind.APORTES: "Aportes",
    ObligationKind.AHORRO_PERMANENTE: "Aportes",  # the social contribution is both (manual)
    ObligationKind.LOAN: "Créditos",
    ObligationKind.CARD: "Tarjetas",
    ObligationKind.OTHER: "Otras Obligaciones",
}


@dataclass(frozen=True, slots=True)
class Product:
    """One of the member's products and the ledger account that holds its balance."""

    group: str
    name: str
    number: str
    ledger_account_id: int
    obligation_id: int | None = None


@dataclass(frozen=True, slots=True)
class Movement:
    posted_at: datetime
    entry_id: int
    description: str
    amount: Decimal  # in the product's sense: + raises its balance, - lowers it


@dataclass(slots=True)
class ProductStatement:
    product: Product
    opening: Decimal
    movements: list[Movement] = field(default_factory=list)
    due: Decimal = ZERO  # next installment not yet past due
    overdue: Decimal = ZERO

    @property
    def closing(self) -> Decimal:
        return self.opening + sum((m.amount for m in self.movements), ZERO)


@dataclass(frozen=True, slots=True)
class Statement:
    member_id: int
    period: Period
    products: list[ProductStatement]

    def by_group(self) -> list[tuple[str, list[ProductStatement]]]:
        groups: dict[str, list[ProductStatement]] = defaultdict(list)
        for p in self.products:
            groups[p.product.group].append(p)
        return [(g, groups[g]) for g in GROUP_ORDER if g in groups]

    @property
    def movement_count(self) -> int:
        return sum(len(p.movements) for p in self.products)


def member_products(session: Session, member_id: int) -> list[Product]:
    """Every product of the member, in the manual's order, with its ledger account."""
    products: list[Product] = []
    for ob in session.query(Obligation).filter(Obligation.member_id == member_id).order_by(Obligation.id):
        products.append(Product(_OBLIGATION_GROUPS[ob.kind], ob.description, ob.number, ob.ledger_account_id, ob.id))
    for acc in session.query(SavingsAccount).filter(SavingsAccount.member_id == member_id).order_by(SavingsAccount.id):
        products.append(Product("Ahorros", acc.product.value.capitalize(), acc.number, acc.ledger_account_id))
    for cdat in session.query(Cdat).filter(Cdat.member_id == member_id).order_by(Cdat.id):
        products.append(Product("CDATS", "CDAT", cdat.number, cdat.ledger_account_id))
    order = {g: i for i, g in enumerate(GROUP_ORDER)}
    return sorted(products, key=lambda p: order[p.group])


# The sign is applied in SQL so Python only adds: debit-natured accounts grow with debits.
_OPENING_SQL = text("""
    SELECT a.id, COALESCE(SUM(CASE WHEN a.nature = 'debit' THEN l.debit - l.credit ELSE l.credit - l.debit END), 0)
    FROM ledger_accounts a
    LEFT JOIN journal_lines l ON l.ledger_account_id = a.id
         AND l.entry_id IN (SELECT e.id FROM journal_entries e WHERE e.posted_at < :start)
    WHERE a.id = ANY(:ids)
    GROUP BY a.id""")
_MOVEMENTS_SQL = text("""
    SELECT l.ledger_account_id, e.posted_at, e.id, e.description,
           CASE WHEN a.nature = 'debit' THEN l.debit - l.credit ELSE l.credit - l.debit END
    FROM journal_lines l
    JOIN journal_entries e ON e.id = l.entry_id
    JOIN ledger_accounts a ON a.id = l.ledger_account_id
    WHERE l.ledger_account_id = ANY(:ids) AND e.posted_at >= :start AND e.posted_at < :end
    ORDER BY e.posted_at, e.id, l.id""")


def build_statement(session: Session, member_id: int, period: Period, today: date) -> Statement:
    products = member_products(session, member_id)
    ids = [p.ledger_account_id for p in products]
    start, end = period.utc_bounds()
    openings = dict(session.execute(_OPENING_SQL, {"ids": ids, "start": start}).all()) if ids else {}
    moves: dict[int, list[Movement]] = defaultdict(list)
    if ids:
        for account_id, posted_at, entry_id, description, amount in session.execute(
                _MOVEMENTS_SQL, {"ids": ids, "start": start, "end": end}):
            moves[account_id].append(Movement(posted_at, entry_id, description, Decimal(amount)))
    dues = dues_by_obligation(session, member_id, today)
    statements: list[ProductStatement] = []
    for p in products:
        due, overdue = dues.get(p.obligation_id, (ZERO, ZERO)) if p.obligation_id is not None else (ZERO, ZERO)
        statements.append(ProductStatement(
            product=p, opening=Decimal(openings.get(p.ledger_account_id, ZERO)),
            movements=moves.get(p.ledger_account_id, []), due=due, overdue=overdue,
        ))
    return Statement(member_id=member_id, period=period, products=statements)


def dues_by_obligation(session: Session, member_id: int, today: date) -> dict[int, tuple[Decimal, Decimal]]:
    """Per obligation: (the next installment not yet past due, what is past due), both
    as still outstanding; one query for all the member's obligations."""
    outstanding = Installment.total_expr() - Installment.paid_total_expr()
    rows = session.execute(
        select(Installment.obligation_id, Installment.due_date, outstanding)
        .join(Obligation, Obligation.id == Installment.obligation_id)
        .where(Obligation.member_id == member_id, outstanding > 0)
        .order_by(Installment.obligation_id, Installment.due_date)
    ).all()
    out: dict[int, tuple[Decimal, Decimal]] = {}
    for obligation_id, due_date, amount in rows:
        due, overdue = out.get(obligation_id, (None, ZERO))
        if due_date < today:
            overdue += amount
        elif due is None:
            due = amount
        out[obligation_id] = (due, overdue)
    return {k: (due or ZERO, overdue) for k, (due, overdue) in out.items()}
