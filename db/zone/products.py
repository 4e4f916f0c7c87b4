"""Reads behind "Mis productos y servicios" (issue 11): each sub-tab of the manual from
the product tables and the ledger. Balances are the ledger's (db.ledger.balances); what
is due and overdue comes from the installments, as the payment pages read it; the
available balance is the one rule the payment requirements use (SavingsLine.available)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from domain.rates import daily_rate, monthly_rate

from ..ledger import balances
from ..member_summary import MemberHeader, SavingsLine, member_header, savings_overview
from ..models import Card, Cdat, Installment, Loan, Member, Obligation, ObligationKind, PayrollDiscount

ZERO = Decimal("0.00")
CONTRIBUTION_KINDS = (ObligationKind.APORTES, ObligationKind.AHORRO_PERMANENTE)


@dataclass(frozen=True, slots=True)
class InstallmentRow:
    number: int
    due_date: date
    principal: Decimal
    interest: Decimal
    fees: Decimal
    late_interest: Decimal
    total: Decimal
    paid: Decimal
    outstanding: Decimal


@dataclass(frozen=True, slots=True)
class ObligationView:
    """An obligation as its sub-tab shows it: the ledger balance and its installments'
    state on `today`."""

    obligation_id: int
    kind: str
    number: str
    description: str
    status: str
    opened_on: date
    balance: Decimal
    monthly_due: Decimal
    next_due_date: date | None
    next_due: Decimal
    overdue: Decimal
    overdue_days: int
    late_interest: Decimal
    installments_paid: int
    installments_total: int
    loan: Loan | None
    card: Card | None

    @property
    def monthly_rate(self) -> Decimal | None:
        return monthly_rate(self.loan.ea_rate) if self.loan else None

    @property
    def card_available(self) -> Decimal | None:
        return max(self.card.credit_limit - self.balance, ZERO) if self.card else None


@dataclass(frozen=True, slots=True)
class HoldView:
    hold_id: int
    amount: Decimal
    reason: str
    since: object  # datetime, shown in Bogotá time by the page


@dataclass(frozen=True, slots=True)
class CdatView:
    cdat_id: int
    number: str
    amount: Decimal
    ea_rate: Decimal
    term_days: int
    opened_on: date
    maturity_on: date
    interest_to_date: Decimal


@dataclass(frozen=True, slots=True)
class DiscountPeriod:
    period: date
    lines: list[tuple[str, str | None, Decimal]]  # concept, obligation number, amount
    total: Decimal


@dataclass(frozen=True, slots=True)
class Discounts:
    paying_entity: str
    basic_salary: Decimal
    deduction_factor: Decimal
    header: MemberHeader
    periods: list[DiscountPeriod]


def obligations_of(session: Session, member_id: int, today: date, kinds: tuple[ObligationKind, ...],
                   obligation_id: int | None = None) -> list[ObligationView]:
    """The member's obligations of these kinds (or the one given, when it is theirs)."""
    query = select(Obligation).where(Obligation.member_id == member_id, Obligation.kind.in_(kinds))
    if obligation_id is not None:
        query = query.where(Obligation.id == obligation_id)
    obligations = session.execute(query.order_by(Obligation.id)).scalars().all()
    by_ledger = balances(session, [o.ledger_account_id for o in obligations])
    out = []
    for ob in obligations:
        unpaid = [i for i in ob.installments if i.outstanding > 0]
        late = [i for i in unpaid if i.due_date < today]
        nxt = unpaid[0] if unpaid else None
        out.append(ObligationView(
            obligation_id=ob.id, kind=ob.kind.value, number=ob.number, description=ob.description,
            status=ob.status.value, opened_on=ob.opened_on, balance=by_ledger.get(ob.ledger_account_id, ZERO),
            monthly_due=ob.installment_amount or ZERO,
            next_due_date=nxt.due_date if nxt else None, next_due=nxt.outstanding if nxt else ZERO,
            overdue=sum((i.outstanding for i in late), ZERO),
            overdue_days=(today - late[0].due_date).days if late else 0,
            late_interest=sum((i.late_interest - i.paid_late_interest for i in unpaid), ZERO),
            installments_paid=sum(1 for i in ob.installments if i.outstanding <= 0),
            installments_total=len(ob.installments), loan=ob.loan, card=ob.card,
        ))
    return out


def schedule(session: Session, obligation_id: int) -> list[InstallmentRow]:
    """The whole amortization schedule with what each installment has paid (the paid
    columns are the sums of the allocation rows, kept by the payment that wrote them)."""
    rows = session.execute(select(Installment).where(Installment.obligation_id == obligation_id)
                           .order_by(Installment.number)).scalars().all()
    return [InstallmentRow(number=i.number, due_date=i.due_date, principal=i.principal, interest=i.interest,
                           fees=i.fees, late_interest=i.late_interest, total=i.total, paid=i.paid,
                           outstanding=i.outstanding) for i in rows]


_HOLDS_SQL = text("""
    SELECT h.id, h.savings_account_id, h.amount, h.created_at, p.id AS intent_id, p.kind
    FROM holds h JOIN funding_attempts f ON f.id = h.attempt_id JOIN payment_intents p ON p.id = f.intent_id
    WHERE h.state = 'pending' AND h.savings_account_id = ANY(:ids) AND p.member_id = :member
    ORDER BY h.created_at""")


def savings_of(session: Session, member_id: int) -> list[tuple[SavingsLine, list[HoldView]]]:
    """Each savings account with its pending holds and why each is there."""
    lines = savings_overview(session, member_id)
    holds: dict[int, list[HoldView]] = {line.savings_account_id: [] for line in lines}
    if lines:
        for row in session.execute(_HOLDS_SQL, {"ids": list(holds), "member": member_id}):
            what = "Pago" if row.kind == "payment" else "Transferencia"
            holds[row.savings_account_id].append(HoldView(
                row.id, row.amount, f"{what} No. {row.intent_id} en espera de la confirmación de PSE", row.created_at))
    return [(line, holds[line.savings_account_id]) for line in lines]


def cdats_of(session: Session, member_id: int, today: date) -> list[CdatView]:
    """Term deposits with the interest accrued to today (daily compounding of the E.A.
    rate, up to maturity)."""
    rows = session.execute(select(Cdat).where(Cdat.member_id == member_id).order_by(Cdat.id)).scalars().all()
    out = []
    for c in rows:
        days = max(0, (min(today, c.maturity_on) - c.opened_on).days)
        accrued = (c.amount * ((1 + daily_rate(c.ea_rate)) ** days - 1)).quantize(Decimal("0.01"))
        out.append(CdatView(c.id, c.number, c.amount, c.ea_rate, c.term_days, c.opened_on, c.maturity_on, accrued))
    return out


def discounts_of(session: Session, member_id: int, today: date, months: int = 6) -> Discounts:
    """Payroll discounts of the last `months` periods with the paying entity, and the
    header's payment capacity that follows from this month's."""
    member = session.get(Member, member_id)
    assert member is not None
    numbers = dict(session.execute(select(Obligation.id, Obligation.number)
                                   .where(Obligation.member_id == member_id)).all())
    rows = session.execute(
        select(PayrollDiscount).where(PayrollDiscount.member_id == member_id)
        .order_by(PayrollDiscount.period.desc(), PayrollDiscount.id)
    ).scalars().all()
    periods: dict[date, list[tuple[str, str | None, Decimal]]] = {}
    for d in rows:
        if d.period not in periods and len(periods) == months:
            break
        periods.setdefault(d.period, []).append((d.concept, numbers.get(d.obligation_id), d.amount))
    return Discounts(
        paying_entity=member.paying_entity.label, basic_salary=member.basic_salary,
        deduction_factor=member.paying_entity.deduction_factor, header=member_header(session, member_id, today),
        periods=[DiscountPeriod(p, lines, sum((a for _c, _n, a in lines), ZERO)) for p, lines in periods.items()],
    )
