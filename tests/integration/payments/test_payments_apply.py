"""A savings-only payment goes from created to applied in one transaction: the manual's
member pays the two next items from Rentadiario; GMF, prepayment (Ley 1555), transfers,
rejections under lock, and every step run twice changes nothing the second time."""
from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select, text

from db.engine import session_scope
from db.ledger import balance, post_entry, credit, debit
from db import chart
from db.member_summary import obligations_overview
from db.models import Allocation, Installment, Obligation, OutboxMessage, SavingsAccount, SavingsStatus
from db.payments.history import payment_history
from db.payments.intents import build_request, create_intent, intent_status, overdue_lines, preview_allocation
from db.payments.planning import obligation_plan
from db.payments.processing import Outcome, apply_intent
from db.payments.snapshots import load_obligations
from db.payments.receipts import receipt, receipt_emails
from db.seed import bogota_today
from domain.money import format_cop, gmf
from domain.payment_steps import Step

from tests.support.payments import (
    assert_applied_exactly_once,
    assert_ledger_balanced,
    available,
    balances_of,
    new_key,
    snapshot,
)

pytestmark = pytest.mark.integration


def next_items(demo) -> dict[int, Decimal]:  # noqa: ANN001
    with session_scope() as session:
        lines = obligations_overview(session, demo.member_id, bogota_today())
    return {l.obligation_id: l.next_installment for l in lines}


def create(demo, lines, funding, key=None, **kw):  # noqa: ANN001, ANN201
    with session_scope() as session:
        return create_intent(session, member_id=demo.member_id, idempotency_key=key or new_key(),
                             kind=kw.pop("kind", "payment"), lines=lines, funding=funding, **kw)


def apply(intent_id: int):  # noqa: ANN201
    with session_scope() as session:
        return apply_intent(session, intent_id)


def test_manual_member_pays_two_next_items_from_rentadiario(demo) -> None:  # noqa: ANN001
    items = next_items(demo)
    aportes, loan = items[demo.aportes_id], items[demo.loan_id]
    assert format_cop(aportes + loan) == "$38,000.00"
    before = available(demo.member_id)
    loan_due_before = {l.obligation_id: l for l in obligations_overview_now(demo)}[demo.loan_id].next_due_date
    lines = [{"obligation_id": demo.aportes_id, "amount": aportes}, {"obligation_id": demo.loan_id, "amount": loan}]
    funding = [{"savings_account_id": demo.rentadiario_id, "amount": aportes + loan}]
    with session_scope() as session:
        preview = preview_allocation(session, demo.member_id, build_request(kind="payment", lines=lines, funding=funding))
    assert preview["total_a_pagar_hoy"] == "38000.00" and preview["gmf"] == "0.00"

    intent_id, created = create(demo, lines, funding)
    assert created
    result = apply(intent_id)
    assert result.outcome is Outcome.APPLIED

    after = available(demo.member_id)
    assert before[demo.rentadiario_id] - after[demo.rentadiario_id] == Decimal("38000.00")
    assert before[demo.rentahorrito_id] == after[demo.rentahorrito_id]
    items_after = {l.obligation_id: l for l in obligations_overview_now(demo)}
    assert items_after[demo.aportes_id].overdue == 0
    with session_scope() as session:
        paid = session.execute(select(Installment).where(
            Installment.obligation_id == demo.loan_id, Installment.due_date == loan_due_before)).scalar_one()
        # Its principal is paid; paid before its due date, it keeps only the interest the
        # balance left accrues until then (Ley 1555 de 2012), nothing of which is owed today.
        assert paid.paid_principal == paid.principal and paid.paid_fees == paid.fees
        left = paid.interest - paid.paid_interest
    loan_after = items_after[demo.loan_id]
    assert (loan_after.next_due_date > loan_due_before and left == 0) or (
        loan_after.next_due_date == loan_due_before and loan_after.next_installment == left)

    with session_scope() as session:
        status = intent_status(session, demo.member_id, intent_id)
        assert status["state"] == "applied" and status["receipt_number"] == 1
        stored = [(a["obligation_id"], a["late_interest"], a["fees"], a["interest"], a["principal"])
                  for a in status["allocation"]]
        shown = [(l["obligation_id"], r["late_interest"], r["fees"], r["interest"], r["principal"])
                 for l in preview["lines"] for r in l["allocation"]] + [
            # Before its due date the installment's interest not yet accrued prepays principal.
            (l["obligation_id"], "0.00", "0.00", "0.00", l["prepayment"])
            for l in preview["lines"] if Decimal(l["prepayment"]) > 0]
        assert stored == shown  # what Verificación showed is what was applied
        loan_rows = [a for a in status["allocation"] if a["obligation_id"] == demo.loan_id]
        assert Decimal(loan_rows[0]["interest"]) > 0 and Decimal(loan_rows[0]["principal"]) > 0
        printed = receipt(session, demo.member_id, intent_id)
        assert printed["receipt_number"] == "0000000001" and printed["total"] == "$38,000.00"
        assert printed["gmf"] == "$0.00" and len(printed["lineas"]) == 2
        mail = session.execute(select(OutboxMessage)).scalar_one()
        # Written bare by the payment; composed from the stored rows when it is sent.
        assert mail.dedupe_key == f"payment-receipt:{intent_id}" and mail.payment_intent_id == intent_id
        assert mail.recipient == "maria.rojas@example.coop" and mail.body is None
        subject, body = receipt_emails(session, [intent_id])[intent_id]
        assert "0000000001" in subject and "$38,000.00" in body and "$34,200.00" in body
        history = payment_history(session, demo.member_id)
        assert [h["intent_id"] for h in history] == [intent_id] and history[0]["state"] == "applied"
        entry_lines = session.execute(text(
            "SELECT count(*) FROM journal_entries WHERE payment_intent_id = :i"), {"i": intent_id}).scalar_one()
        assert entry_lines == 1
    assert_applied_exactly_once([intent_id])
    assert_ledger_balanced()


def obligations_overview_now(demo):  # noqa: ANN001, ANN201
    with session_scope() as session:
        return obligations_overview(session, demo.member_id, bogota_today())


def test_apply_twice_changes_nothing_the_second_time(demo) -> None:  # noqa: ANN001
    items = next_items(demo)
    intent_id, _ = create(demo, [{"obligation_id": demo.loan_id, "amount": items[demo.loan_id]}],
                          [{"savings_account_id": demo.rentadiario_id, "amount": items[demo.loan_id]}])
    assert apply(intent_id).outcome is Outcome.APPLIED
    first = snapshot()
    assert apply(intent_id).outcome is Outcome.NOTHING_TO_DO
    assert snapshot() == first


def test_replay_same_key_returns_same_intent_and_other_body_is_refused(demo) -> None:  # noqa: ANN001
    from db.payments.errors import IdempotencyConflict

    items = next_items(demo)
    key = new_key()
    body = ([{"obligation_id": demo.aportes_id, "amount": items[demo.aportes_id]}],
            [{"savings_account_id": demo.rentadiario_id, "amount": items[demo.aportes_id]}])
    first, step = create(demo, *body, key=key)
    assert step is Step.APPLY  # a new savings-only intent: the web enqueues the apply step
    # The browser may send lines in another order or amounts as strings: same form, same intent.
    again, created_again = create(demo, [{"obligation_id": str(demo.aportes_id), "amount": str(items[demo.aportes_id])}],
                                  body[1], key=key)
    assert (again, created_again) == (first, None)
    apply(first)
    after_apply = snapshot()
    # A replay after it was applied still answers with the same intent, not a new payment.
    assert create(demo, *body, key=key) == (first, None)
    with pytest.raises(IdempotencyConflict) as err:
        create(demo, [{"obligation_id": demo.aportes_id, "amount": items[demo.aportes_id] - 1}],
               [{"savings_account_id": demo.rentadiario_id, "amount": items[demo.aportes_id] - 1}], key=key)
    assert err.value.http_status == 422 and "otros datos" in err.value.message
    assert snapshot() == after_apply


def test_gmf_is_debited_from_a_non_exempt_account(demo) -> None:  # noqa: ANN001
    items = next_items(demo)
    amount = items[demo.aportes_id]
    before = balances_of(demo.member_id)
    with session_scope() as session:
        gmf_before = balance(session, chart.coop_account_id(session, "gmf_payable"))
    intent_id, _ = create(demo, [{"obligation_id": demo.aportes_id, "amount": amount}],
                          [{"savings_account_id": demo.rentahorrito_id, "amount": amount}])
    assert apply(intent_id).outcome is Outcome.APPLIED
    tax = gmf(amount)  # the one GMF rounding rule (half up to the peso)
    assert tax > 0
    after = balances_of(demo.member_id)
    assert before[demo.rentahorrito_id] - after[demo.rentahorrito_id] == amount + tax
    with session_scope() as session:
        assert balance(session, chart.coop_account_id(session, "gmf_payable")) - gmf_before == tax
        assert receipt(session, demo.member_id, intent_id)["gmf"] == format_cop(tax)
    assert_ledger_balanced()


def test_rejected_under_lock_when_the_money_left_meanwhile(demo) -> None:  # noqa: ANN001
    items = next_items(demo)
    amount = items[demo.loan_id]
    intent_id, _ = create(demo, [{"obligation_id": demo.loan_id, "amount": amount}],
                          [{"savings_account_id": demo.rentadiario_id, "amount": amount}])
    # The member withdraws at the counter after the Requisitos said "Cumple".
    with session_scope() as session:
        acc = session.get(SavingsAccount, demo.rentadiario_id)
        left = available(demo.member_id)[demo.rentadiario_id]
        post_entry(session, kind="withdrawal", description="Retiro por ventanilla",
                   postings=[debit(acc.ledger_account_id, left - amount + 1),
                             credit(chart.coop_account_id(session, "banks"), left - amount + 1)])
    before = snapshot()
    result = apply(intent_id)
    assert result.outcome is Outcome.REJECTED and result.reason == "Saldo insuficiente"
    after = snapshot()
    assert after["journal_entries"] == before["journal_entries"] and after["allocations"] == before["allocations"]
    assert after["installments"] == before["installments"] and after["counter"] == before["counter"]
    with session_scope() as session:
        status = intent_status(session, demo.member_id, intent_id)
    assert status["state"] == "rejected" and status["failure_reason"] == "Saldo insuficiente"
    assert status["funding"][0]["state"] == "declined"
    assert apply(intent_id).outcome is Outcome.NOTHING_TO_DO and snapshot() == after


def test_rejected_when_the_account_became_dormant(demo) -> None:  # noqa: ANN001
    items = next_items(demo)
    amount = items[demo.aportes_id]
    intent_id, _ = create(demo, [{"obligation_id": demo.aportes_id, "amount": amount}],
                          [{"savings_account_id": demo.rentadiario_id, "amount": amount}])
    with session_scope() as session:
        session.get(SavingsAccount, demo.rentadiario_id).status = SavingsStatus.EMBARGOED
    result = apply(intent_id)
    assert result.outcome is Outcome.REJECTED and result.reason == "Cuenta embargada"


def test_overdue_total_through_ventanilla(demo) -> None:  # noqa: ANN001
    with session_scope() as session:
        lines = overdue_lines(session, demo.member_id)
    assert [l.obligation_id for l in lines] == [demo.aportes_id]
    total = sum(l.amount for l in lines)
    intent_id, _ = create(demo, lines, [{"savings_account_id": demo.rentadiario_id, "amount": total}])
    assert apply(intent_id).outcome is Outcome.APPLIED
    assert all(l.overdue == 0 for l in obligations_overview_now(demo))
    with session_scope() as session:
        assert overdue_lines(session, demo.member_id) == []


def loan_installments(loan_id: int) -> list[tuple[int, Decimal, Decimal]]:
    with session_scope() as session:
        return [(i.number, i.principal, i.interest) for i in session.execute(
            select(Installment).where(Installment.obligation_id == loan_id).order_by(Installment.number)).scalars()]


@pytest.mark.parametrize("mode", ["reduce_term", "reduce_installment"])
def test_otro_valor_prepays_principal_as_the_member_chose(demo, mode: str) -> None:  # noqa: ANN001
    items = next_items(demo)
    prepay = Decimal("300000")
    amount = items[demo.loan_id] + prepay
    before = loan_installments(demo.loan_id)
    with session_scope() as session:
        ob = session.get(Obligation, demo.loan_id)
        installment_before = ob.installment_amount
        receivable_before = balance(session, ob.ledger_account_id)
    lines = [{"obligation_id": demo.loan_id, "amount": amount, "prepayment_mode": mode}]
    funding = [{"savings_account_id": demo.rentadiario_id, "amount": amount}]
    with session_scope() as session:
        owed_now = obligation_plan(load_obligations(session, demo.member_id, [demo.loan_id])[demo.loan_id],
                                   bogota_today()).owed_now
        shown = preview_allocation(session, demo.member_id, build_request(kind="payment", lines=lines, funding=funding))
    # Everything beyond what is owed today prepays principal: the 300,000 and the part of
    # the installment's interest not accrued yet (Ley 1555 de 2012).
    assert Decimal(shown["lines"][0]["prepayment"]) == amount - owed_now >= prepay
    intent_id, _ = create(demo, lines, funding)
    assert apply(intent_id).outcome is Outcome.APPLIED
    after = loan_installments(demo.loan_id)
    with session_scope() as session:
        ob = session.get(Obligation, demo.loan_id)
        prepaid = session.execute(select(Allocation).where(Allocation.intent_id == intent_id,
                                                           Allocation.is_prepayment)).scalar_one()
        assert prepaid.principal == amount - owed_now
        paid_principal = sum(a.principal for a in session.execute(
            select(Allocation).where(Allocation.intent_id == intent_id)).scalars())
        assert receivable_before - balance(session, ob.ledger_account_id) == paid_principal
        # The unpaid principal left equals the receivable's balance: the schedule follows the ledger.
        unpaid = sum(i.principal - i.paid_principal for i in ob.installments)
        assert unpaid == balance(session, ob.ledger_account_id)
        if mode == "reduce_term":
            assert len(after) < len(before) and ob.installment_amount == installment_before
        else:
            assert len(after) == len(before) and ob.installment_amount < installment_before
    assert_ledger_balanced()


def test_transfer_into_own_rentadiario_from_rentahorrito_posts_no_gmf(demo) -> None:  # noqa: ANN001
    """A self-transfer at the cooperative is exempt (ET art. 879 num. 14), even from the
    account that is not marked exempt; it used to pay $400.00 on $100,000.00."""
    amount = Decimal("100000")
    before = balances_of(demo.member_id)
    with session_scope() as session:
        gmf_before = balance(session, chart.coop_account_id(session, "gmf_payable"))
        preview = preview_allocation(session, demo.member_id, build_request(
            kind="transfer", lines=[{"target_savings_account_id": demo.rentadiario_id, "amount": amount}],
            funding=[{"savings_account_id": demo.rentahorrito_id, "amount": amount}]))
    assert preview["gmf"] == "0.00" and preview["total_a_pagar_hoy"] == "100000.00"
    intent_id, _ = create(demo, [{"target_savings_account_id": demo.rentadiario_id, "amount": amount}],
                          [{"savings_account_id": demo.rentahorrito_id, "amount": amount}], kind="transfer")
    assert apply(intent_id).outcome is Outcome.APPLIED
    after = balances_of(demo.member_id)
    assert after[demo.rentadiario_id] - before[demo.rentadiario_id] == amount
    assert before[demo.rentahorrito_id] - after[demo.rentahorrito_id] == amount
    with session_scope() as session:
        assert balance(session, chart.coop_account_id(session, "gmf_payable")) == gmf_before
        assert session.execute(text("SELECT gmf_amount FROM funding_attempts WHERE intent_id = :i"),
                               {"i": intent_id}).scalar_one() == 0
        printed = receipt(session, demo.member_id, intent_id)
        assert printed["kind"] == "transfer" and printed["gmf"] == "$0.00"
        assert payment_history(session, demo.member_id)[0]["kind"] == "transfer"
    assert_applied_exactly_once([intent_id])
    assert_ledger_balanced()


def test_status_and_receipt_refuse_another_member(demo) -> None:  # noqa: ANN001
    from db.payments.errors import NotOwnedError

    items = next_items(demo)
    intent_id, _ = create(demo, [{"obligation_id": demo.aportes_id, "amount": items[demo.aportes_id]}],
                          [{"savings_account_id": demo.rentadiario_id, "amount": items[demo.aportes_id]}])
    apply(intent_id)
    with session_scope() as session:
        with pytest.raises(NotOwnedError) as err:
            intent_status(session, demo.other_member_id, intent_id)
        assert "no le pertenece" in str(err.value) and err.value.http_status == 404
        with pytest.raises(NotOwnedError):
            receipt(session, demo.other_member_id, intent_id)
        assert payment_history(session, demo.other_member_id) == []


def test_intent_lines_and_attempts_are_written_in_one_go_in_request_order(demo) -> None:  # noqa: ANN001
    """One statement writes the intent, its lines and its attempts: every line and every
    source is there, in the normalized request's order (ids ascending), GMF on the
    non-exempt account only; a replay of the key writes none of them again."""
    from domain.money import gmf

    items = next_items(demo)
    aportes, loan = items[demo.aportes_id], items[demo.loan_id]
    lines = [{"obligation_id": demo.loan_id, "amount": loan}, {"obligation_id": demo.aportes_id, "amount": aportes}]
    funding = [{"savings_account_id": demo.rentahorrito_id, "amount": Decimal("1000")},
               {"savings_account_id": demo.rentadiario_id, "amount": aportes + loan - 1000}]
    key = new_key()
    intent_id, created = create(demo, lines, funding, key=key)
    assert created
    request = build_request(kind="payment", lines=lines, funding=funding)
    with session_scope() as session:
        written_lines = session.execute(text(
            "SELECT obligation_id, target_savings_account_id, amount, prepayment_mode FROM payment_intent_lines "
            "WHERE intent_id = :id ORDER BY id"), {"id": intent_id}).all()
        written_attempts = session.execute(text(
            "SELECT kind, state, savings_account_id, amount, gmf_amount FROM funding_attempts "
            "WHERE intent_id = :id ORDER BY id"), {"id": intent_id}).all()
    assert [tuple(r) for r in written_lines] == [
        (l.obligation_id, None, l.amount, l.prepayment_mode.value if l.prepayment_mode else None) for l in request.lines]
    assert [tuple(r) for r in written_attempts] == [
        ("savings", "pending", f.savings_account_id, f.amount,
         gmf(f.amount) if f.savings_account_id == demo.rentahorrito_id else Decimal("0.00"))
        for f in request.funding]
    assert gmf(Decimal("1000")) > 0  # so the GMF column is really tested
    assert create(demo, lines, funding, key=key) == (intent_id, None)
    with session_scope() as session:
        counts = session.execute(text(
            "SELECT (SELECT count(*) FROM payment_intent_lines WHERE intent_id = :id), "
            "(SELECT count(*) FROM funding_attempts WHERE intent_id = :id)"), {"id": intent_id}).one()
    assert tuple(counts) == (2, 2)
    assert apply(intent_id).outcome is Outcome.APPLIED
