"""The demo members, as the cooperative's manual shows them.

This module is the ONLY place (with the tests) where the manual's figures are written;
everything the zone shows is computed from them (a test enforces it): the capacity
comes from salary and payroll discounts, the seniority from the join date, the loan's
amount from the installment the manual shows.
"""
from __future__ import annotations

import json
import secrets
import string
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

from sqlalchemy.orm import Session

from domain.amortization import principal_for_installment
from domain.bogota_calendar import add_months

from . import chart
from .enrollment import (
    MemberData,
    collect_from_payroll,
    deposit,
    disburse_loan,
    enroll_member,
    ensure_paying_entity,
    open_dues,
    open_savings_account,
    record_payroll_discount,
)
from .ledger import credit, debit, post_entry
from .models import Credential, Member, ObligationKind, SavingsProduct

PAYING_ENTITY = ("218", "COOPERATIVA ALIANZA", Decimal("1.0000"))


@dataclass(frozen=True, slots=True)
class DemoMember:
    data: MemberData
    aportes_monthly: Decimal
    ahorro_permanente_monthly: Decimal
    aportes_overdue_months: int
    payroll_discounts: tuple[tuple[str, Decimal], ...]
    rentadiario_balance: Decimal
    rentahorrito_balance: Decimal
    loan_installment: Decimal | None
    loan_term_months: int
    loan_paid_installments: int
    ready_to_log_in: bool


def _demo_members(today: date) -> list[DemoMember]:
    return [
        # The manual's "Pagos y transferencias" member: salary $3,500,000.00, capacity
        # $3,327,104.00, 39 months, $3,800.00 of aportes overdue, a $34,200.00 loan installment.
        DemoMember(
            data=MemberData(
                document_type="CC",
                document_number="1077227777",
                first_names="María Fernanda",
                last_names="Rojas Gutiérrez",
                mobile="3104567890",
                email="maria.rojas@example.coop",
                basic_salary=Decimal("3500000.00"),
                join_date=add_months(today, -39),
            ),
            aportes_monthly=Decimal("3800.00"),
            ahorro_permanente_monthly=Decimal("45000.00"),
            aportes_overdue_months=1,
            payroll_discounts=(
                ("Aportes sociales", Decimal("3800.00")),
                ("Ahorro permanente", Decimal("45000.00")),
                ("Crédito de consumo", Decimal("34200.00")),
                ("Póliza exequial", Decimal("12896.00")),
                ("Libranza otra entidad", Decimal("77000.00")),
            ),
            rentadiario_balance=Decimal("1250000.00"),
            rentahorrito_balance=Decimal("480000.00"),
            loan_installment=Decimal("34200.00"),
            loan_term_months=36,
            loan_paid_installments=9,
            ready_to_log_in=True,
        ),
        # The manual's first screenshot: salary $5,000,000.00, 65 months. Left without a
        # password, so it shows the first-access flow (temporary key).
        DemoMember(
            data=MemberData(
                document_type="CC",
                document_number="52345678",
                first_names="Carlos Andrés",
                last_names="Mejía Ospina",
                mobile="3157654321",
                email="carlos.mejia@example.coop",
                basic_salary=Decimal("5000000.00"),
                join_date=add_months(today, -65),
            ),
            aportes_monthly=Decimal("5000.00"),
            ahorro_permanente_monthly=Decimal("60000.00"),
            aportes_overdue_months=0,
            payroll_discounts=(
                ("Aportes sociales", Decimal("5000.00")),
                ("Ahorro permanente", Decimal("60000.00")),
            ),
            rentadiario_balance=Decimal("2300000.00"),
            rentahorrito_balance=Decimal("150000.00"),
            loan_installment=None,
            loan_term_months=0,
            loan_paid_installments=0,
            ready_to_log_in=False,
        ),
    ]


LOAN_EA = Decimal("0.1450")
LOAN_LATE_EA = Decimal("0.2200")


def generate_demo_password() -> str:
    """A random key that meets the manual's policy (upper, lower, digit, 8 characters)."""
    alphabet = string.ascii_letters + string.digits
    while True:
        candidate = "".join(secrets.choice(alphabet) for _ in range(8))
        if any(c.isupper() for c in candidate) and any(c.islower() for c in candidate) and any(
            c.isdigit() for c in candidate
        ):
            return candidate


def _pay_dues_until(session: Session, obligation, keep_unpaid: int, today: date) -> None:  # noqa: ANN001
    due = [i for i in obligation.installments if i.due_date <= today]
    for installment in due[: len(due) - keep_unpaid] if keep_unpaid else due:
        collect_from_payroll(session, obligation, installment)


def create_demo_member(session: Session, spec: DemoMember, today: date, hash_password) -> tuple[Member, str | None]:  # noqa: ANN001
    entity = ensure_paying_entity(session, *PAYING_ENTITY)
    member = enroll_member(session, spec.data, entity)
    first_due = add_months(spec.data.join_date.replace(day=5), 1)
    # Dues are billed through next month, so "próximo vencimiento" is always shown.
    through = add_months(today, 1)
    aportes = open_dues(session, member, ObligationKind.APORTES, spec.aportes_monthly, first_due, through)
    permanente = open_dues(session, member, ObligationKind.AHORRO_PERMANENTE, spec.ahorro_permanente_monthly, first_due, through)
    _pay_dues_until(session, aportes, spec.aportes_overdue_months, today)
    _pay_dues_until(session, permanente, 0, today)

    doc = spec.data.document_number
    rentadiario = open_savings_account(
        session, member, SavingsProduct.RENTADIARIO, number=f"RD-{doc}", minimum_balance=Decimal("10000"),
        gmf_exempt=True, opened_on=spec.data.join_date,
    )
    rentahorrito = open_savings_account(
        session, member, SavingsProduct.RENTAHORRITO, number=f"RH-{doc}", minimum_balance=Decimal("0"),
        gmf_exempt=False, opened_on=spec.data.join_date,
    )
    deposit(session, rentadiario, spec.rentadiario_balance, "Consignación inicial")
    deposit(session, rentahorrito, spec.rentahorrito_balance, "Consignación inicial")

    if spec.loan_installment is not None:
        amount = principal_for_installment(spec.loan_installment, LOAN_EA, spec.loan_term_months)
        disbursed = add_months(today, -spec.loan_paid_installments).replace(day=10)
        if disbursed > today:
            disbursed = add_months(disbursed, -1)
        loan = disburse_loan(
            session, member, number=f"CRE-{doc}-1", product_name="Crédito de consumo libranza",
            amount=amount, ea_rate=LOAN_EA, late_ea_rate=LOAN_LATE_EA, term_months=spec.loan_term_months,
            disbursement_date=disbursed, first_due=add_months(disbursed, 1), into=rentadiario,
        )
        # The disbursement went out to the member's bank: keep Rentadiario at its figure.
        post_entry(
            session, kind="withdrawal", description="Retiro desembolso a cuenta externa",
            postings=[debit(rentadiario.ledger_account_id, amount), credit(chart.coop_account_id(session, "banks"), amount)],
        )
        for installment in loan.installments:
            if installment.due_date <= today:
                collect_from_payroll(session, loan, installment)

    period = today.replace(day=1)
    for concept, amount in spec.payroll_discounts:
        record_payroll_discount(session, member, period, concept, amount)

    password = None
    if spec.ready_to_log_in:
        password = generate_demo_password()
        credential = session.get(Credential, member.id)
        assert credential is not None
        credential.password_hash = hash_password(password)
        credential.must_change = False
        credential.security_image = "colibri"
        credential.security_phrase = "Mi cooperativa, mi futuro"
        member.data_consent_version = "2024-01"
        member.data_consent_at = datetime.now(timezone.utc)
    session.flush()
    return member, password


def seed_demo(session: Session, today: date, hash_password, credentials_file: Path | None) -> list[dict[str, str]]:  # noqa: ANN001
    """Create the demo members; returns (and stores, 0600) their credentials."""
    chart.ensure_chart(session)
    creds: list[dict[str, str]] = []
    for spec in _demo_members(today):
        member, password = create_demo_member(session, spec, today, hash_password)
        creds.append(
            {
                "tipo": member.document_type,
                "documento": member.document_number,
                "nombre": member.full_name,
                "clave": password or "(primer ingreso: pida una clave temporal)",
            }
        )
    if credentials_file is not None:
        credentials_file.parent.mkdir(parents=True, exist_ok=True)
        credentials_file.write_text(json.dumps(creds, ensure_ascii=False, indent=2))
        credentials_file.chmod(0o600)
    return creds
