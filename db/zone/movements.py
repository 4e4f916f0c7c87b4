"""Movements of one of a member's products (issue 11 §2): the lines of its ledger account,
newest first, each with its journal entry's description and, when a payment wrote it,
that payment. Paged by keyset on (posted_at, line id): a page costs the same however
deep it is, and a movement posted while the member pages never shifts what follows."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import text
from sqlalchemy.orm import Session

from ..models import Cdat, Obligation, ObligationKind, SavingsAccount

_SUBTAB = {ObligationKind.APORTES: "aportes", ObligationKind.AHORRO_PERMANENTE: "aportes",
           ObligationKind.LOAN: "creditos", ObligationKind.CARD: "tarjetas", ObligationKind.OTHER: "otras"}


class ProductKind(StrEnum):
    """The products a movements URL can name."""

    AHORROS = "ahorros"
    OBLIGACIONES = "obligaciones"
    CDATS = "cdats"


class Direction(StrEnum):
    ALL = ""
    CREDITS = "abonos"  # the balance grows
    DEBITS = "cargos"  # the balance falls


@dataclass(frozen=True, slots=True)
class OwnedProduct:
    kind: ProductKind
    product_id: int
    number: str
    name: str
    ledger_account_id: int
    subtab: str  # the sub-tab of "Mis productos y servicios" it belongs to


@dataclass(frozen=True, slots=True)
class MovementRow:
    line_id: int
    posted_at: datetime
    description: str
    amount: Decimal  # in the product's sense: + raises its balance, - lowers it
    payment_intent_id: int | None
    receipt_number: str | None


@dataclass(frozen=True, slots=True)
class Page:
    rows: list[MovementRow]
    next_key: tuple[datetime, int] | None  # where the next page starts, None on the last


def owned_product(session: Session, member_id: int, kind: ProductKind, product_id: int) -> OwnedProduct | None:
    """The product when it is this member's; None otherwise (the caller answers 404 and
    cannot tell "not yours" from "does not exist")."""
    if kind is ProductKind.AHORROS:
        acc = session.get(SavingsAccount, product_id)
        if acc is None or acc.member_id != member_id:
            return None
        return OwnedProduct(kind, acc.id, acc.number, acc.product.value.capitalize(), acc.ledger_account_id,
                            "ahorros")
    if kind is ProductKind.OBLIGACIONES:
        ob = session.get(Obligation, product_id)
        if ob is None or ob.member_id != member_id:
            return None
        return OwnedProduct(kind, ob.id, ob.number, ob.description, ob.ledger_account_id, _SUBTAB[ob.kind])
    cdat = session.get(Cdat, product_id)
    if cdat is None or cdat.member_id != member_id:
        return None
    return OwnedProduct(kind, cdat.id, cdat.number, "CDAT", cdat.ledger_account_id, "cdats")


_PAGE_SQL = """
    SELECT l.id, e.posted_at, e.description,
           CASE WHEN a.nature = 'debit' THEN l.debit - l.credit ELSE l.credit - l.debit END AS amount,
           e.payment_intent_id, p.receipt_number
    FROM journal_lines l
    JOIN journal_entries e ON e.id = l.entry_id
    JOIN ledger_accounts a ON a.id = l.ledger_account_id
    LEFT JOIN payment_intents p ON p.id = e.payment_intent_id AND p.state = 'applied'
    WHERE l.ledger_account_id = :account
      AND (CAST(:since AS timestamptz) IS NULL OR e.posted_at >= :since)
      AND (CAST(:until AS timestamptz) IS NULL OR e.posted_at < :until)
      AND (CAST(:after_at AS timestamptz) IS NULL OR (e.posted_at, l.id) < (:after_at, :after_id))
      {direction}
    ORDER BY e.posted_at DESC, l.id DESC
    LIMIT :limit"""
_DIRECTIONS = {
    Direction.ALL: "",
    Direction.CREDITS: "AND (CASE WHEN a.nature = 'debit' THEN l.debit ELSE l.credit END) > 0",
    Direction.DEBITS: "AND (CASE WHEN a.nature = 'debit' THEN l.credit ELSE l.debit END) > 0",
}


def movements_page(session: Session, product: OwnedProduct, *, since: datetime | None, until: datetime | None,
                   direction: Direction, after: tuple[datetime, int] | None, size: int) -> Page:
    """One page of `size` movements, newest first, strictly after the key `after`."""
    rows = session.execute(text(_PAGE_SQL.format(direction=_DIRECTIONS[direction])), {
        "account": product.ledger_account_id, "since": since, "until": until,
        "after_at": after[0] if after else None, "after_id": after[1] if after else 0, "limit": size + 1,
    }).all()
    page = [MovementRow(r.id, r.posted_at, r.description, Decimal(r.amount), r.payment_intent_id, r.receipt_number)
            for r in rows[:size]]
    more = len(rows) > size
    return Page(page, (page[-1].posted_at, page[-1].line_id) if more and page else None)
