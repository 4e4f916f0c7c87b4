"""The demo members come out with the manual's figures, computed, not typed in."""
from __future__ import annotations

import subprocess
import sys

from decimal import Decimal

import pytest
from sqlalchemy import func, select, text

from db.engine import session_scope
from db.member_summary import member_header, obligations_overview, savings_overview
from db.models import Installment, Loan, Member, Obligation
from db.seed import bogota_today, seed_demo_members
from domain.money import format_cop
from tests.support import ROOT

pytestmark = pytest.mark.integration


def demo_member_id(session, document: str) -> int:  # noqa: ANN001
    return session.execute(select(Member.id).where(Member.document_number == document)).scalar_one()


def test_manual_member_figures(clean_db: str, state_dir) -> None:  # noqa: ANN001
    creds = seed_demo_members(state_dir / "demo_credentials.json")
    today = bogota_today()
    assert creds[0]["documento"] == "1077227777" and len(creds[0]["clave"]) == 8
    with session_scope() as session:
        member_id = demo_member_id(session, "1077227777")
        header = member_header(session, member_id, today)
        assert header.paying_entity == "218-COOPERATIVA ALIANZA"
        assert format_cop(header.basic_salary) == "$3,500,000.00"
        assert format_cop(header.payroll_discounts) == "$172,896.00"
        assert format_cop(header.payment_capacity) == "$3,327,104.00"
        assert header.seniority_months == 39

        lines = {o.kind: o for o in obligations_overview(session, member_id, today)}
        assert format_cop(lines["aportes"].overdue) == "$3,800.00"
        assert format_cop(lines["aportes"].next_installment) == "$3,800.00"
        assert lines["aportes"].next_due_date < today
        loan = lines["credito"]
        assert format_cop(loan.next_installment) == "$34,200.00"
        assert loan.next_due_date > today and loan.overdue == 0
        assert lines["ahorro_permanente"].overdue == 0

        # No late interest on aportes, ever.
        late = session.execute(
            select(func.sum(Installment.late_interest)).join(Obligation).where(
                Obligation.member_id == member_id, Obligation.kind == "aportes"
            )
        ).scalar_one()
        assert late == 0

        savings = {s.product: s for s in savings_overview(session, member_id)}
        assert savings["rentadiario"].gmf_exempt and not savings["rentahorrito"].gmf_exempt
        assert savings["rentadiario"].balance > 0 and savings["rentahorrito"].balance > 0

        # The loan amount was derived from the installment; its schedule sums to it.
        loan_row = session.execute(select(Loan).where(Loan.obligation_id == loan.obligation_id)).scalar_one()
        principal = session.execute(
            select(func.sum(Installment.principal)).where(Installment.obligation_id == loan.obligation_id)
        ).scalar_one()
        assert principal == loan_row.amount

        second = member_header(session, demo_member_id(session, "52345678"), today)
        assert format_cop(second.basic_salary) == "$5,000,000.00"
        assert second.seniority_months == 65

        debits, credits = session.execute(text("SELECT sum(debit), sum(credit) FROM journal_lines")).one()
        assert debits == credits and debits > 0


def test_seed_reset_restores_demo_state(clean_db: str, subprocess_env: dict[str, str]) -> None:
    run = lambda *args: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "zona_privada.cli", "seed", *args], env=subprocess_env, cwd=ROOT,
        capture_output=True, text=True, timeout=120,
    )
    first = run()
    assert first.returncode == 0, first.stderr
    again = run()  # a second plain seed must not duplicate or crash: it refuses cleanly
    assert again.returncode == 1 and "--reset" in again.stderr and "Traceback" not in again.stderr
    reset = run("--reset")
    assert reset.returncode == 0, reset.stderr
    with session_scope() as session:
        assert session.execute(select(func.count()).select_from(Member)).scalar_one() == 2
        member_id = demo_member_id(session, "1077227777")
        assert member_header(session, member_id, bogota_today()).payment_capacity == Decimal("3327104.00")
