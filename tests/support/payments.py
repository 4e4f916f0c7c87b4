"""What the payment tests check after a step: everything a payment writes, counted and
compared; the ledger's balance; exactly-once application. Shared by the payment, web
and fault tests (a module, not a conftest: conftests are not for importing)."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from db.engine import session_scope
from db.ledger import trial_balance
from db.member_summary import savings_overview
from db.models import Member, Obligation, SavingsAccount

DEMO_DOCUMENT = "1077227777"  # the manual's demo member
OTHER_DOCUMENT = "52345678"  # the second demo member (first access pending)


@dataclass(frozen=True)
class Demo:
    member_id: int
    rentadiario_id: int
    rentahorrito_id: int
    aportes_id: int
    permanente_id: int
    loan_id: int
    other_member_id: int
    other_account_id: int
    other_obligation_id: int


def member_ids(session: Session, document: str) -> tuple[int, dict[str, int], dict[str, int]]:
    member_id = session.execute(select(Member.id).where(Member.document_number == document)).scalar_one()
    accounts = {a.product.value: a.id for a in session.execute(
        select(SavingsAccount).where(SavingsAccount.member_id == member_id)).scalars()}
    obligations = {o.kind.value: o.id for o in session.execute(
        select(Obligation).where(Obligation.member_id == member_id)).scalars()}
    return member_id, accounts, obligations


def new_key() -> str:
    return uuid.uuid4().hex


TABLES = ("payment_intents", "payment_intent_lines", "funding_attempts", "allocations", "holds",
          "journal_entries", "journal_lines", "notification_outbox", "receipt_counters", "audit_events")


def snapshot() -> dict[str, object]:
    """Everything a payment step can change, as comparable values."""
    with session_scope() as session:
        out: dict[str, object] = {t: session.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in TABLES}
        out["intents"] = session.execute(text(
            "SELECT id, state, receipt_number, failure_reason, applied_at FROM payment_intents ORDER BY id")).all()
        out["attempts"] = session.execute(text(
            "SELECT id, state, gmf_amount FROM funding_attempts ORDER BY id")).all()
        out["installments"] = session.execute(text(
            "SELECT id, principal, interest, fees, paid_principal, paid_interest, paid_fees, paid_late_interest,"
            " due_date FROM installments ORDER BY id")).all()
        out["holds"] = session.execute(text("SELECT id, state FROM holds ORDER BY id")).all()
        out["counter"] = session.execute(text("SELECT series, last_number FROM receipt_counters")).all()
        out["trial"] = trial_balance(session)
    return out


def available(member_id: int) -> dict[int, Decimal]:
    with session_scope() as session:
        return {s.savings_account_id: s.available for s in savings_overview(session, member_id)}


def balances_of(member_id: int) -> dict[int, Decimal]:
    with session_scope() as session:
        return {s.savings_account_id: s.balance for s in savings_overview(session, member_id)}


def assert_ledger_balanced() -> None:
    """Debits equal credits over the whole journal and within every entry."""
    with session_scope() as session:
        debits, credits = trial_balance(session)
        assert debits == credits
        unbalanced = session.execute(text(
            "SELECT entry_id FROM journal_lines GROUP BY entry_id HAVING sum(debit) <> sum(credit)")).all()
        assert unbalanced == []


def assert_applied_exactly_once(intent_ids: list[int]) -> None:
    """One journal entry, one receipt number and one receipt e-mail per applied intent."""
    with session_scope() as session:
        rows = session.execute(text(
            "SELECT i.id, i.state, i.receipt_number,"
            " (SELECT count(*) FROM journal_entries e WHERE e.payment_intent_id = i.id),"
            " (SELECT count(*) FROM notification_outbox o WHERE o.dedupe_key = 'payment-receipt:' || i.id)"
            " FROM payment_intents i WHERE i.id = ANY(:ids) ORDER BY i.id"), {"ids": intent_ids}).all()
        assert len(rows) == len(intent_ids)
        for intent_id, state, receipt, entries, mails in rows:
            assert (state, entries, mails) == ("applied", 1, 1), (intent_id, state, entries, mails)
            assert receipt is not None
        receipts = [r[2] for r in rows]
        assert len(set(receipts)) == len(receipts)
        # Gapless over the whole table: 1..N with no hole.
        all_numbers = session.execute(text(
            "SELECT receipt_number FROM payment_intents WHERE receipt_number IS NOT NULL ORDER BY 1")).scalars().all()
        assert all_numbers == list(range(1, len(all_numbers) + 1))


def one_intent(demo: "Demo", obligation_id: int | None = None, account_id: int | None = None) -> tuple[int, Decimal]:
    """A payment of the obligation's next installment (the loan's by default) from one
    savings account (Rentadiario by default), created and not enqueued; (intent, amount)."""
    from db.member_summary import obligations_overview
    from db.payments.intents import create_intent
    from db.seed import bogota_today

    obligation_id = obligation_id or demo.loan_id
    with session_scope() as session:
        items = {o.obligation_id: o.next_installment for o in obligations_overview(session, demo.member_id, bogota_today())}
        amount = items[obligation_id]
        new = create_intent(session, member_id=demo.member_id, idempotency_key=new_key(), kind="payment",
                            lines=[{"obligation_id": obligation_id, "amount": amount}],
                            funding=[{"savings_account_id": account_id or demo.rentadiario_id, "amount": amount}])
    return new.intent_id, amount


def applied_payment(member_id: int, obligation_id: int, account_id: int) -> int:
    """One payment of the obligation's next installment from the account, applied."""
    from db.member_summary import obligations_overview
    from db.payments.intents import create_intent
    from db.payments.processing import apply_intent
    from db.seed import bogota_today

    with session_scope() as db:
        amount = {o.obligation_id: o.next_installment
                  for o in obligations_overview(db, member_id, bogota_today())}[obligation_id]
        intent_id = create_intent(db, member_id=member_id, idempotency_key=new_key(), kind="payment",
                                  lines=[{"obligation_id": obligation_id, "amount": amount}],
                                  funding=[{"savings_account_id": account_id, "amount": amount}]).intent_id
    with session_scope() as db:
        apply_intent(db, intent_id)
    return intent_id


def member_with_loans(n_loans: int, affordable: int, minimum: Decimal) -> tuple[int, int, list[int], Decimal]:
    """A new member with `n_loans` equal loans just disbursed and a Rentadiario holding
    its minimum plus `affordable` first installments: (member, account, loans, installment)."""
    from datetime import datetime

    from db import chart
    from db.enrollment import MemberData, deposit, disburse_loan, enroll_member, ensure_paying_entity, open_savings_account
    from db.models import SavingsProduct
    from domain.bogota_calendar import BOGOTA, add_months, bogota_date

    today = bogota_date(datetime.now(BOGOTA))  # the day the app lives in, not the machine's UTC date
    with session_scope() as session:
        chart.ensure_chart(session)
        entity = ensure_paying_entity(session, "999", "PRUEBAS", Decimal("1.0000"))
        member = enroll_member(session, MemberData("CC", "900200200", "Prueba", "Concurrencia", "3000000000",
                                                   "prueba@example.coop", Decimal("4000000"), add_months(today, -24)),
                               entity)
        rentadiario = open_savings_account(session, member, SavingsProduct.RENTADIARIO, number="RD-900200200",
                                           minimum_balance=minimum, gmf_exempt=True, opened_on=today)
        sink = open_savings_account(session, member, SavingsProduct.RENTAHORRITO, number="RH-900200200",
                                    minimum_balance=Decimal("0"), gmf_exempt=False, opened_on=today)
        loans = [
            disburse_loan(session, member, number=f"CRE-900200200-{n}", product_name="Crédito de prueba",
                          amount=Decimal("100000"), ea_rate=Decimal("0.12"), late_ea_rate=Decimal("0.2"),
                          term_months=12, disbursement_date=today, first_due=add_months(today, 1), into=sink)
            for n in range(n_loans)
        ]
        installment = loans[0].installments[0].total
        assert all(loan.installments[0].total == installment for loan in loans)
        deposit(session, rentadiario, minimum + affordable * installment, "Consignación de prueba")
        return member.id, rentadiario.id, [loan.id for loan in loans], installment
