"""Creating members and their products: the one code path for demo data, synthetic
load tests' reference member and (later) the back office.

Every money movement here goes through `db.ledger.post_entry`, so balances are sums of
posted lines from the first peso.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from domain.allocation import allocate
from domain.amortization import french_schedule
from domain.bogota_calendar import add_months, monthly_due_dates
from domain.money import to_money

from . import chart
from .ledger import credit, debit, post_entry
from .posting import EntryAmounts
from .models import (
    Credential,
    Installment,
    Loan,
    Member,
    Obligation,
    ObligationKind,
    PayingEntity,
    PayrollDiscount,
    SavingsAccount,
    SavingsProduct,
)

ZERO = Decimal("0")


@dataclass(frozen=True, slots=True)
class MemberData:
    document_type: str
    document_number: str
    first_names: str
    last_names: str
    mobile: str
    email: str
    basic_salary: Decimal
    join_date: date


def ensure_paying_entity(session: Session, code: str, name: str, deduction_factor: Decimal) -> PayingEntity:
    entity = session.execute(select(PayingEntity).where(PayingEntity.code == code)).scalar_one_or_none()
    if entity is None:
        entity = PayingEntity(code=code, name=name, deduction_factor=deduction_factor)
        session.add(entity)
        session.flush()
    return entity


def enroll_member(session: Session, data: MemberData, paying_entity: PayingEntity) -> Member:
    """A new member with credentials that force the first access (temporary key)."""
    member = Member(
        document_type=data.document_type,
        document_number=data.document_number,
        first_names=data.first_names,
        last_names=data.last_names,
        mobile=data.mobile,
        email=data.email,
        paying_entity_id=paying_entity.id,
        basic_salary=to_money(data.basic_salary),
        join_date=data.join_date,
    )
    session.add(member)
    session.flush()
    session.add(Credential(member_id=member.id, must_change=True, failed_attempts=0))
    session.flush()
    return member


def open_dues(
    session: Session,
    member: Member,
    kind: ObligationKind,
    monthly_due: Decimal,
    first_due: date,
    through: date,
) -> Obligation:
    """Aportes or ahorro permanente: one all-principal installment a month, from the
    first due date through `through` (inclusive)."""
    family = chart.SOCIAL_CONTRIBUTIONS if kind is ObligationKind.APORTES else chart.PERMANENT_SAVINGS
    label = "Aportes sociales" if kind is ObligationKind.APORTES else "Ahorro permanente"
    prefix = "APO" if kind is ObligationKind.APORTES else "AHP"
    account = chart.open_account(session, family, f"{prefix}-{member.id}", f"{label} {member.document_number}", member.id)
    obligation = Obligation(
        member_id=member.id,
        kind=kind,
        number=f"{prefix}-{member.document_number}",
        description=label,
        installment_amount=to_money(monthly_due),
        ledger_account_id=account.id,
        opened_on=member.join_date,
    )
    session.add(obligation)
    session.flush()
    months = 0
    while add_months(first_due, months) <= through:
        months += 1
    session.add_all(
        Installment(obligation_id=obligation.id, number=n, due_date=due, period=due.replace(day=1),
                    principal=to_money(monthly_due))
        for n, due in enumerate(monthly_due_dates(first_due, months), start=1)
    )
    session.flush()
    return obligation


def open_savings_account(
    session: Session,
    member: Member,
    product: SavingsProduct,
    *,
    number: str,
    minimum_balance: Decimal,
    gmf_exempt: bool,
    opened_on: date,
) -> SavingsAccount:
    name = f"{product.value.capitalize()} {number}"
    try:
        # A savepoint, so a refused mark changes nothing (not even the ledger account) and
        # leaves the caller's transaction usable.
        with session.begin_nested():
            account = chart.open_account(session, chart.SAVINGS_ON_DEMAND, f"AHV-{number}", name, member.id)
            savings = SavingsAccount(
                member_id=member.id,
                product=product,
                number=number,
                minimum_balance=to_money(minimum_balance),
                gmf_exempt=gmf_exempt,
                ledger_account_id=account.id,
                opened_on=opened_on,
            )
            session.add(savings)
            session.flush()
    except IntegrityError as exc:
        if GMF_EXEMPT_INDEX in str(exc.orig):
            raise GmfExemptionTaken() from exc
        raise
    return savings


GMF_EXEMPT_INDEX = "uq_savings_accounts_one_gmf_exempt_per_member"
MSG_GMF_EXEMPTION_TAKEN = (
    "El asociado ya tiene una cuenta de ahorros marcada como exenta del GMF (4x1000). "
    "Solo una cuenta por asociado puede tener la exención; desmarque la otra primero."
)


class GmfExemptionTaken(ValueError):
    """A second GMF-exempt account for one member (ET art. 879 num. 1), refused by the
    database's partial unique index; `str()` is the Spanish message for the operator."""

    def __init__(self) -> None:
        super().__init__(MSG_GMF_EXEMPTION_TAKEN)


def deposit(session: Session, savings: SavingsAccount, amount: Decimal, description: str) -> int:
    """Money arriving from outside (cash, payroll, transfer from another bank)."""
    banks = chart.coop_account_id(session, "banks")
    return post_entry(
        session,
        kind="deposit",
        description=description,
        postings=[debit(banks, amount), credit(savings.ledger_account_id, amount)],
    )


def disburse_loan(
    session: Session,
    member: Member,
    *,
    number: str,
    product_name: str,
    amount: Decimal,
    ea_rate: Decimal,
    late_ea_rate: Decimal,
    term_months: int,
    disbursement_date: date,
    first_due: date,
    into: SavingsAccount,
    monthly_fee: Decimal = ZERO,
) -> Obligation:
    """A consumer loan with its French schedule, disbursed into a savings account."""
    schedule = french_schedule(amount, ea_rate, term_months, first_due, monthly_fee=monthly_fee)
    account = chart.open_account(session, chart.CONSUMER_LOANS, f"CRE-{number}", f"{product_name} {number}", member.id)
    obligation = Obligation(
        member_id=member.id,
        kind=ObligationKind.LOAN,
        number=number,
        description=product_name,
        installment_amount=schedule[0].total,
        ledger_account_id=account.id,
        opened_on=disbursement_date,
    )
    session.add(obligation)
    session.flush()
    session.add(
        Loan(
            obligation_id=obligation.id,
            product_name=product_name,
            amount=to_money(amount),
            ea_rate=ea_rate,
            late_ea_rate=late_ea_rate,
            term_months=term_months,
            disbursement_date=disbursement_date,
            monthly_fee=to_money(monthly_fee),
        )
    )
    session.add_all(
        Installment(
            obligation_id=obligation.id,
            number=row.number,
            due_date=row.due_date,
            principal=row.principal,
            interest=row.interest,
            fees=row.fees,
        )
        for row in schedule
    )
    session.flush()
    post_entry(
        session,
        kind="loan_disbursement",
        description=f"Desembolso {product_name} {number}",
        postings=[debit(account.id, amount), credit(into.ledger_account_id, amount)],
    )
    return obligation


def collect_from_payroll(session: Session, obligation: Obligation, installment: Installment) -> int:
    """The paying entity remits an installment in full: the bank account receives it and
    it is allocated like any payment (late interest, fees, interest, principal)."""
    ids = chart.coop_account_ids(session)
    outstanding = installment.outstanding
    (row,) = allocate(outstanding, [installment.as_due()]).rows
    installment.record(row)
    amounts = EntryAmounts()  # the same recipe as a member's payment (db/posting.py)
    amounts.debit(ids["banks"], outstanding)
    amounts.credit_installment(ids, obligation.ledger_account_id, row)
    return post_entry(
        session,
        kind="payroll_collection",
        description=f"Recaudo nómina {obligation.description} cuota {installment.number}",
        postings=amounts.postings(),
    )


def record_payroll_discount(session: Session, member: Member, period: date, concept: str, amount: Decimal) -> None:
    session.add(PayrollDiscount(member_id=member.id, period=period.replace(day=1), concept=concept, amount=to_money(amount)))
    session.flush()
