"""GMF rules the ledger follows (ET art. 879): the marked account's monthly 350 UVT
allowance, and one marked account per member, enforced by PostgreSQL."""
from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from db import chart
from db.engine import session_scope
from db.enrollment import (
    MSG_GMF_EXEMPTION_TAKEN,
    GmfExemptionTaken,
    MemberData,
    deposit,
    enroll_member,
    ensure_paying_entity,
    open_dues,
    open_savings_account,
)
from db.ledger import balance, credit, debit, post_entry
from db.models import Member, ObligationKind, SavingsAccount, SavingsProduct
from db.payments.intents import create_intent
from db.payments.processing import Outcome, apply_intent
from db.seed import bogota_today
from domain.bogota_calendar import add_months
from domain.gmf import monthly_exempt_cap, uvt
from domain.money import gmf

from tests.support.payments import assert_ledger_balanced, new_key

pytestmark = pytest.mark.integration


def exempt_member(used: Decimal) -> tuple[int, int, int]:
    """A member whose marked Rentadiario has debited `used` this month; returns (member,
    account, aportes obligation)."""
    today = bogota_today()
    with session_scope() as session:
        chart.ensure_chart(session)
        entity = ensure_paying_entity(session, "998", "PRUEBAS GMF", Decimal("1.0000"))
        member = enroll_member(session, MemberData("CC", "900300300", "Prueba", "Gmf", "3000000001",
                                                   "gmf@example.coop", Decimal("4000000"), add_months(today, -24)),
                               entity)
        account = open_savings_account(session, member, SavingsProduct.RENTADIARIO, number="RD-900300300",
                                       minimum_balance=Decimal(0), gmf_exempt=True, opened_on=today)
        dues = open_dues(session, member, ObligationKind.APORTES, Decimal("100000"), today, add_months(today, 1))
        deposit(session, account, used + Decimal("1000000"), "Consignación de prueba")
        if used:
            post_entry(session, kind="withdrawal", description="Retiro en oficina", postings=[
                debit(account.ledger_account_id, used), credit(chart.coop_account_id(session, "banks"), used)])
        return member.id, account.id, dues.id


def pay_from_exempt(member_id: int, account_id: int, obligation_id: int, amount: Decimal) -> Decimal:
    """Pay `amount` of the dues from the exempt account; returns the GMF it posted."""
    with session_scope() as session:
        payable = chart.coop_account_id(session, "gmf_payable")
        before = balance(session, payable)
        intent_id, _ = create_intent(session, member_id=member_id, idempotency_key=new_key(), kind="payment",
                                     lines=[{"obligation_id": obligation_id, "amount": amount}],
                                     funding=[{"savings_account_id": account_id, "amount": amount}])
    with session_scope() as session:
        assert apply_intent(session, intent_id).outcome is Outcome.APPLIED
    with session_scope() as session:
        posted = balance(session, chart.coop_account_id(session, "gmf_payable")) - before
        stored = session.execute(text("SELECT gmf_amount FROM funding_attempts WHERE intent_id = :i"),
                                 {"i": intent_id}).scalar_one()
    assert posted == stored
    return posted


def test_the_351st_uvt_of_exempt_debits_in_a_month_pays_gmf(clean_db: str) -> None:
    one_uvt = uvt(bogota_today().year).value
    cap = monthly_exempt_cap(bogota_today().year)
    assert cap == 350 * one_uvt
    member_id, account_id, dues_id = exempt_member(used=cap - one_uvt)
    # The 350th UVT: still within the allowance.
    assert pay_from_exempt(member_id, account_id, dues_id, one_uvt) == 0
    # The 351st: beyond it, the whole debit pays 4×1000 (rounded by the one GMF rule).
    assert pay_from_exempt(member_id, account_id, dues_id, one_uvt) == gmf(one_uvt) > 0
    assert_ledger_balanced()


def test_a_debit_that_crosses_the_allowance_pays_only_on_the_part_beyond(clean_db: str) -> None:
    cap = monthly_exempt_cap(bogota_today().year)
    member_id, account_id, dues_id = exempt_member(used=cap - Decimal("10000"))
    assert pay_from_exempt(member_id, account_id, dues_id, Decimal("30000")) == gmf(Decimal("20000"))
    assert_ledger_balanced()


def test_a_second_exempt_account_is_refused_by_postgresql(demo) -> None:  # noqa: ANN001
    with session_scope() as session:
        exempt = session.execute(select(SavingsAccount.id).where(
            SavingsAccount.member_id == demo.member_id, SavingsAccount.gmf_exempt)).scalars().all()
        assert exempt == [demo.rentadiario_id]
    # Straight to the table, past every check the application makes.
    with pytest.raises(IntegrityError, match="uq_savings_accounts_one_gmf_exempt_per_member"):
        with session_scope() as session:
            session.execute(text("UPDATE savings_accounts SET gmf_exempt = true WHERE id = :id"),
                            {"id": demo.rentahorrito_id})
    with session_scope() as session:
        assert session.get(SavingsAccount, demo.rentahorrito_id).gmf_exempt is False
        # Another member may have their own exempt account.
        assert session.get(SavingsAccount, demo.other_account_id).gmf_exempt is True


def test_opening_a_second_exempt_account_says_why_in_spanish(demo) -> None:  # noqa: ANN001
    today = bogota_today()
    with session_scope() as session:
        member = session.get(Member, demo.member_id)
        with pytest.raises(GmfExemptionTaken) as refused:
            open_savings_account(session, member, SavingsProduct.RENTAHORRITO, number="RH-SEGUNDA",
                                 minimum_balance=Decimal(0), gmf_exempt=True, opened_on=today)
        assert str(refused.value) == MSG_GMF_EXEMPTION_TAKEN and "exenta del GMF" in str(refused.value)
        # The refusal changed nothing and left the transaction usable.
        assert session.execute(select(SavingsAccount).where(SavingsAccount.number == "RH-SEGUNDA")).first() is None
        open_savings_account(session, member, SavingsProduct.RENTAHORRITO, number="RH-SEGUNDA",
                             minimum_balance=Decimal(0), gmf_exempt=False, opened_on=today)
