"""What the zone's header and product tabs show, computed from the rows and the ledger
(never stored): capacity, seniority, balances, next installments, overdue amounts."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from domain.capacity import payment_capacity, seniority_months

from domain.balances import available_balance

from .holds import held_amount
from .ledger import balances
from .models import Installment, Member, Obligation, PayrollDiscount, SavingsAccount

ZERO = Decimal("0")


@dataclass(frozen=True, slots=True)
class MemberHeader:
    full_name: str
    identification: str
    paying_entity: str
    basic_salary: Decimal
    payroll_discounts: Decimal
    payment_capacity: Decimal
    seniority_months: int


def payroll_discounts_for(session: Session, member_id: int, period: date) -> Decimal:
    total = session.execute(
        select(func.coalesce(func.sum(PayrollDiscount.amount), 0)).where(
            PayrollDiscount.member_id == member_id, PayrollDiscount.period == period.replace(day=1)
        )
    ).scalar_one()
    return Decimal(total)


def member_header(session: Session, member_id: int, today: date) -> MemberHeader:
    member = session.get(Member, member_id)
    if member is None:
        raise LookupError(f"no member {member_id}")
    discounts = payroll_discounts_for(session, member_id, today)
    return MemberHeader(
        full_name=member.full_name,
        identification=f"{member.document_type} {member.document_number}",
        paying_entity=member.paying_entity.label,
        basic_salary=member.basic_salary,
        payroll_discounts=discounts,
        payment_capacity=payment_capacity(member.basic_salary, member.paying_entity.deduction_factor, discounts),
        seniority_months=seniority_months(member.join_date, today),
    )


@dataclass(frozen=True, slots=True)
class ObligationLine:
    obligation_id: int
    number: str
    kind: str
    description: str
    next_due_date: date | None
    next_installment: Decimal
    overdue: Decimal


def obligations_overview(session: Session, member_id: int, today: date) -> list[ObligationLine]:
    """Per obligation: the oldest unpaid installment (its date and outstanding value) and
    the total outstanding of installments already past due."""
    obligations = session.execute(
        select(Obligation).where(Obligation.member_id == member_id).order_by(Obligation.id)
    ).scalars().all()
    out: list[ObligationLine] = []
    for ob in obligations:
        unpaid = [i for i in ob.installments if i.outstanding > 0]
        nxt = unpaid[0] if unpaid else None
        overdue = sum((i.outstanding for i in unpaid if i.due_date < today), ZERO)
        out.append(
            ObligationLine(
                obligation_id=ob.id,
                number=ob.number,
                kind=ob.kind.value,
                description=ob.description,
                next_due_date=nxt.due_date if nxt else None,
                next_installment=nxt.outstanding if nxt else ZERO,
                overdue=overdue,
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class SavingsLine:
    savings_account_id: int
    product: str
    number: str
    status: str
    balance: Decimal
    held: Decimal
    minimum_balance: Decimal
    gmf_exempt: bool

    @property
    def available(self) -> Decimal:
        return available_balance(self.balance, self.held, self.minimum_balance)


def savings_overview(session: Session, member_id: int) -> list[SavingsLine]:
    accounts = session.execute(
        select(SavingsAccount).where(SavingsAccount.member_id == member_id).order_by(SavingsAccount.id)
    ).scalars().all()
    by_ledger = balances(session, [a.ledger_account_id for a in accounts])
    held = dict(session.execute(
        select(SavingsAccount.id, held_amount(SavingsAccount.id))
        .where(SavingsAccount.id.in_([a.id for a in accounts]))
    ).all())
    return [
        SavingsLine(
            savings_account_id=a.id,
            product=a.product.value,
            number=a.number,
            status=a.status.value,
            balance=by_ledger.get(a.ledger_account_id, ZERO),
            held=Decimal(held.get(a.id, ZERO)),
            minimum_balance=a.minimum_balance,
            gmf_exempt=a.gmf_exempt,
        )
        for a in accounts
    ]


def installment_of(session: Session, installment_id: int) -> Installment | None:
    return session.get(Installment, installment_id)
