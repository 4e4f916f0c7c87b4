"""Reversal of an applied payment and operator refunds (issue 12), on real PostgreSQL
through the real processing functions: the demo member pays, an operator reverses, and
everything (installments, obligations, savings balances) is exactly as before."""
from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from sqlalchemy import text

from db.engine import session_scope
from db.member_summary import obligations_overview
from db.payments.intents import create_intent
from db.payments.processing import Outcome, apply_intent
from db.payments.receipts import receipt
from db.payments.errors import NotOwnedError
from db.payments.reversals import (
    IntentNotFound,
    IntentNotReversible,
    InvalidOperatorRequest,
    RefundRejected,
    ReversalImpossible,
    refund_to_savings,
    reverse_applied_intent,
)
from db.seed import bogota_today
from domain.money import format_cop
from domain.payment_states import IntentState
from tests.support.payments import assert_ledger_balanced, available, balances_of, new_key, snapshot

pytestmark = pytest.mark.integration

WHO = {"requested_by": "op.ana", "approved_by": "sup.luis", "reason": "Pago duplicado por error", "ip": "10.0.0.7"}


def next_items(demo) -> dict[int, Decimal]:  # noqa: ANN001
    with session_scope() as session:
        return {l.obligation_id: l.next_installment
                for l in obligations_overview(session, demo.member_id, bogota_today())}


def pay(demo, lines, funding) -> int:  # noqa: ANN001
    with session_scope() as session:
        intent_id = create_intent(session, member_id=demo.member_id, idempotency_key=new_key(), kind="payment",
                                  lines=lines, funding=funding).intent_id
    with session_scope() as session:
        assert apply_intent(session, intent_id).outcome is Outcome.APPLIED
    return intent_id


def reverse(intent_id: int, **who: str):  # noqa: ANN201
    with session_scope() as session:
        return reverse_applied_intent(session, intent_id, **{**WHO, **who})


def obligations_state(member_id: int) -> list[tuple]:
    """Every installment and obligation of the member, as comparable values."""
    with session_scope() as session:
        installments = session.execute(text(
            "SELECT i.id, i.principal, i.interest, i.fees, i.late_interest, i.paid_principal, i.paid_interest,"
            " i.paid_fees, i.paid_late_interest, i.due_date FROM installments i JOIN obligations o"
            " ON o.id = i.obligation_id WHERE o.member_id = :m ORDER BY i.id"), {"m": member_id}).all()
        obligations = session.execute(text(
            "SELECT id, status, installment_amount FROM obligations WHERE member_id = :m ORDER BY id"),
            {"m": member_id}).all()
    return [tuple(r) for r in installments] + [tuple(r) for r in obligations]


def dues_payment(demo) -> tuple[list[dict], list[dict], Decimal]:  # noqa: ANN001
    """Aportes and ahorro permanente's next items, from Rentadiario and Rentahorrito."""
    items = next_items(demo)
    aportes, permanente = items[demo.aportes_id], items[demo.permanente_id]
    assert aportes > 0 and permanente > 0
    total = aportes + permanente
    lines = [{"obligation_id": demo.aportes_id, "amount": aportes},
             {"obligation_id": demo.permanente_id, "amount": permanente}]
    funding = [{"savings_account_id": demo.rentadiario_id, "amount": total - Decimal("1000")},
               {"savings_account_id": demo.rentahorrito_id, "amount": Decimal("1000")}]
    return lines, funding, total


def test_reversal_restores_everything_exactly_and_points_at_the_originals(demo) -> None:  # noqa: ANN001
    before_obligations = obligations_state(demo.member_id)
    before_balances, before_available = balances_of(demo.member_id), available(demo.member_id)
    lines, funding, total = dues_payment(demo)
    intent_id = pay(demo, lines, funding)
    assert obligations_state(demo.member_id) != before_obligations
    assert balances_of(demo.member_id) != before_balances

    result = reverse(intent_id)
    assert result.reversed_now and result.state is IntentState.REVERSED
    assert "reversado" in result.message
    # Money, installments and obligations exactly as before the payment (GMF included).
    assert obligations_state(demo.member_id) == before_obligations
    assert balances_of(demo.member_id) == before_balances
    assert available(demo.member_id) == before_available
    assert sum(result.credited_to_savings.values(), Decimal("0")) >= total
    assert_ledger_balanced()
    with session_scope() as session:
        entries = session.execute(text(
            "SELECT id, kind, reversal_of_id, description FROM journal_entries WHERE payment_intent_id = :i"
            " ORDER BY id"), {"i": intent_id}).all()
        original, reversing = entries
        assert original.kind == "payment" and original.reversal_of_id is None
        assert reversing.kind == "reversal" and reversing.reversal_of_id == original.id
        assert "op.ana" in reversing.description and "sup.luis" in reversing.description
        swapped = session.execute(text(
            "SELECT o.ledger_account_id, o.debit = r.credit AND o.credit = r.debit FROM journal_lines o"
            " JOIN journal_lines r ON r.ledger_account_id = o.ledger_account_id AND r.entry_id = :r"
            " WHERE o.entry_id = :o"), {"o": original.id, "r": reversing.id}).all()
        assert len(swapped) == session.execute(text("SELECT count(*) FROM journal_lines WHERE entry_id = :o"),
                                               {"o": original.id}).scalar_one()
        assert all(ok for _acc, ok in swapped)
        state = session.execute(text("SELECT state FROM payment_intents WHERE id = :i"), {"i": intent_id}).scalar_one()
        assert state == "reversed"
        audit = session.execute(text(
            "SELECT ip, detail FROM audit_events WHERE kind = 'payment_reversed' AND payment_intent_id = :i"),
            {"i": intent_id}).one()
        assert audit.ip == "10.0.0.7" and audit.detail["approved_by"] == "sup.luis"
        assert audit.detail["reason"] == WHO["reason"] and audit.detail["reversal_of"] == [original.id]
        # The receipt of a reversed payment is no longer issued (its number stays taken: gapless).
        with pytest.raises(NotOwnedError):
            receipt(session, demo.member_id, intent_id)

    # Idempotent: a second reversal changes nothing and says so.
    first = snapshot()
    again = reverse(intent_id)
    assert not again.reversed_now and again.reversal_entry_ids == () and "ya estaba reversado" in again.message
    assert snapshot() == first

    # The restored installments can be paid again, normally.
    assert pay(demo, *dues_payment(demo)[:2])
    assert_ledger_balanced()


def test_refusals_change_nothing(demo) -> None:  # noqa: ANN001
    with session_scope() as session:
        pending = create_intent(session, member_id=demo.member_id, idempotency_key=new_key(), kind="payment",
                                lines=[{"obligation_id": demo.aportes_id, "amount": next_items(demo)[demo.aportes_id]}],
                                funding=[{"savings_account_id": demo.rentadiario_id,
                                          "amount": next_items(demo)[demo.aportes_id]}]).intent_id
    first = snapshot()
    with pytest.raises(IntentNotReversible) as err:
        reverse(pending)
    assert "estado «created»" in err.value.message
    with pytest.raises(IntentNotFound):
        reverse(999999)
    with pytest.raises(InvalidOperatorRequest) as same:
        reverse(pending, approved_by="op.ana")
    assert "doble control" in same.value.message
    with pytest.raises(InvalidOperatorRequest):
        reverse(pending, reason="  ")
    assert snapshot() == first


def test_a_later_payment_on_the_same_obligation_blocks_the_reversal(demo) -> None:  # noqa: ANN001
    before = obligations_state(demo.member_id)
    first_id = pay(demo, [{"obligation_id": demo.aportes_id, "amount": next_items(demo)[demo.aportes_id]}],
                   [{"savings_account_id": demo.rentadiario_id, "amount": next_items(demo)[demo.aportes_id]}])
    amount = next_items(demo)[demo.aportes_id]
    if amount <= 0:
        pytest.skip("the demo's aportes have a single installment due")
    second_id = pay(demo, [{"obligation_id": demo.aportes_id, "amount": amount}],
                    [{"savings_account_id": demo.rentadiario_id, "amount": amount}])
    snap = snapshot()
    with pytest.raises(ReversalImpossible) as err:
        reverse(first_id)
    assert f"No. {second_id}" in err.value.message
    assert snapshot() == snap
    # Newest first works: reverse the later one, then the first one.
    assert reverse(second_id).reversed_now and reverse(first_id).reversed_now
    assert obligations_state(demo.member_id) == before
    assert_ledger_balanced()


def test_an_early_loan_payment_that_rebilled_interest_is_refused(demo) -> None:  # noqa: ANN001
    amount = next_items(demo)[demo.loan_id]
    intent_id = pay(demo, [{"obligation_id": demo.loan_id, "amount": amount}],
                    [{"savings_account_id": demo.rentadiario_id, "amount": amount}])
    snap = snapshot()
    with session_scope() as session:
        paid_before_due = session.execute(text(
            "SELECT bool_or(i.due_date > CAST(:today AS date) AND a.principal > 0) FROM allocations a"
            " JOIN installments i ON i.id = a.installment_id WHERE a.intent_id = :id"),
            {"id": intent_id, "today": bogota_today()}).scalar_one()
    if not paid_before_due:
        pytest.skip("the demo loan's installment is overdue today: nothing was re-billed")
    with pytest.raises(ReversalImpossible) as err:
        reverse(intent_id)
    assert "Ley 1555" in err.value.message
    assert snapshot() == snap


def test_reversal_racing_a_new_payment_for_the_same_obligation(demo) -> None:  # noqa: ANN001
    """Lock order as processing.py: whichever takes the obligation second sees the other's
    result. Either the reversal restores and the new payment pays the restored
    installment, or the payment lands first and the reversal refuses. Never both on the
    same money, never a deadlock; paid amounts always equal the live allocations."""
    with session_scope() as session:  # what the seed paid, with no allocation rows behind it
        seed_paid = session.execute(text(
            "SELECT id, paid_principal, paid_interest, paid_fees, paid_late_interest FROM installments"
            " WHERE obligation_id = :o"), {"o": demo.aportes_id}).all()
    outcomes: set[str] = set()
    for _round in range(4):
        amount = next_items(demo)[demo.aportes_id]
        if amount <= 0:
            break  # every aportes installment billed so far is paid
        first_id = pay(demo, [{"obligation_id": demo.aportes_id, "amount": amount}],
                       [{"savings_account_id": demo.rentadiario_id, "amount": amount}])
        amount = next_items(demo)[demo.aportes_id]
        if amount <= 0:
            break
        with session_scope() as session:
            second_id = create_intent(session, member_id=demo.member_id, idempotency_key=new_key(), kind="payment",
                                      lines=[{"obligation_id": demo.aportes_id, "amount": amount}],
                                      funding=[{"savings_account_id": demo.rentadiario_id, "amount": amount}]).intent_id
        barrier = threading.Barrier(2)
        outcome: dict[str, object] = {}

        def do_reverse() -> None:
            barrier.wait()
            try:
                outcome["reversal"] = reverse(first_id)
            except ReversalImpossible as exc:
                outcome["reversal"] = exc

        def do_pay() -> None:
            barrier.wait()
            with session_scope() as session:
                outcome["payment"] = apply_intent(session, second_id)

        threads = [threading.Thread(target=do_reverse), threading.Thread(target=do_pay)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not any(t.is_alive() for t in threads)
        payment, reversal = outcome["payment"], outcome["reversal"]
        assert payment.outcome in (Outcome.APPLIED, Outcome.REJECTED)
        if isinstance(reversal, ReversalImpossible):
            assert payment.outcome is Outcome.APPLIED and f"No. {second_id}" in reversal.message
        with session_scope() as session:
            mismatched = session.execute(text("""
                WITH seed(id, p, n, f, l) AS (SELECT * FROM unnest(CAST(:ids AS integer[]), CAST(:p AS numeric[]),
                        CAST(:n AS numeric[]), CAST(:f AS numeric[]), CAST(:l AS numeric[])))
                SELECT i.id FROM installments i JOIN seed ON seed.id = i.id
                LEFT JOIN (SELECT a.installment_id, sum(a.principal) p, sum(a.interest) n, sum(a.fees) f,
                                  sum(a.late_interest) l
                           FROM allocations a JOIN payment_intents pi ON pi.id = a.intent_id
                           WHERE pi.state = 'applied' GROUP BY a.installment_id) s ON s.installment_id = i.id
                WHERE i.obligation_id = :o AND (i.paid_principal, i.paid_interest, i.paid_fees, i.paid_late_interest)
                      <> (seed.p + coalesce(s.p, 0), seed.n + coalesce(s.n, 0), seed.f + coalesce(s.f, 0),
                          seed.l + coalesce(s.l, 0))"""),
                {"o": demo.aportes_id, "ids": [r[0] for r in seed_paid], "p": [r[1] for r in seed_paid],
                 "n": [r[2] for r in seed_paid], "f": [r[3] for r in seed_paid], "l": [r[4] for r in seed_paid]}).all()
        assert mismatched == []
        assert_ledger_balanced()
        outcomes.add("refused" if isinstance(reversal, ReversalImpossible) else "reversed")
    # Which one wins is up to the scheduler; either way the books agree (checked above).
    assert outcomes


def test_refund_to_savings_is_idempotent_per_request_key(demo) -> None:  # noqa: ANN001
    before = balances_of(demo.member_id)
    with session_scope() as session:
        done = refund_to_savings(session, None, Decimal("25000.00"), member_id=demo.member_id,
                                 request_key="req-41", **WHO)
    assert done.refunded_now and done.savings_account_id == demo.rentadiario_id
    assert "$25,000.00" in done.message
    after = balances_of(demo.member_id)
    assert after[demo.rentadiario_id] - before[demo.rentadiario_id] == Decimal("25000.00")
    snap = snapshot()
    with session_scope() as session:
        again = refund_to_savings(session, None, Decimal("25000"), member_id=demo.member_id,
                                  request_key="req-41", **WHO)
    assert not again.refunded_now and again.journal_entry_id == done.journal_entry_id
    assert "no se hizo ningún cambio" in again.message
    assert snapshot() == snap
    for bad in ({"amount": Decimal("26000"), "request_key": "req-41"},  # same key, other data
                {"amount": Decimal("-5"), "request_key": "req-42"},
                {"amount": Decimal("10.005"), "request_key": "req-43"},
                {"amount": Decimal("10"), "request_key": ""}):
        with pytest.raises(RefundRejected), session_scope() as session:
            refund_to_savings(session, None, bad["amount"], member_id=demo.member_id,
                              request_key=bad["request_key"], **WHO)
    with pytest.raises(RefundRejected), session_scope() as session:
        refund_to_savings(session, 1, Decimal("1"), member_id=demo.member_id, request_key="x", **WHO)
    assert snapshot() == snap
    with session_scope() as session:
        entry = session.execute(text("SELECT kind, description FROM journal_entries WHERE id = :e"),
                                {"e": done.journal_entry_id}).one()
    assert entry.kind == "operator_refund" and "req-41" in entry.description and "sup.luis" in entry.description
    assert_ledger_balanced()


def test_concurrent_refunds_with_one_key_credit_once(demo) -> None:  # noqa: ANN001
    before = balances_of(demo.member_id)[demo.rentadiario_id]
    barrier = threading.Barrier(4)
    results: list[object] = []

    def go() -> None:
        barrier.wait()
        with session_scope() as session:
            results.append(refund_to_savings(session, None, Decimal("1000"), member_id=demo.member_id,
                                             request_key="review:7", **WHO))

    threads = [threading.Thread(target=go) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(r.refunded_now for r in results) == [False, False, False, True]
    assert balances_of(demo.member_id)[demo.rentadiario_id] - before == Decimal("1000.00")


def test_a_mixed_savings_and_pse_payment_gives_the_pse_part_to_rentadiario(demo, tmp_path) -> None:  # noqa: ANN001
    """PSE cannot take money back: its part lands in the member's Rentadiario, the
    savings part goes back to its account, the installments are as before; and the
    member is told once, while the unsent receipt e-mail is ended."""
    from db.payments import processing
    from db.payments.intents import PseContext
    from tests.support.pse import Sandbox
    from workers import pse_tasks

    box = Sandbox(tmp_path / "logs", tmp_path / "state")
    box.start()
    try:
        assert pse_tasks.refresh_bank_list(box.provider(), box.settings(), force=True)
        before_obligations = obligations_state(demo.member_id)
        before = balances_of(demo.member_id)
        amount = next_items(demo)[demo.aportes_id]
        savings = Decimal("1000.00")
        with session_scope() as session:
            intent_id = create_intent(
                session, member_id=demo.member_id, idempotency_key=new_key(), kind="payment",
                lines=[{"obligation_id": demo.aportes_id, "amount": amount}],
                funding=[{"pse": True, "amount": amount - savings, "bank_code": "9101", "user_type": 0},
                         {"savings_account_id": demo.rentadiario_id, "amount": savings}],
                pse=PseContext("203.0.113.7", "http://zona.test/pagos/pse/retorno?ticket=")).intent_id
        with session_scope() as session:
            assert processing.place_holds(session, intent_id).state is IntentState.FUNDING
            tx_id = session.execute(text(
                "SELECT t.id FROM pse_transactions t JOIN funding_attempts f ON f.id = t.attempt_id"
                " WHERE f.intent_id = :id"), {"id": intent_id}).scalar_one()
        assert pse_tasks.send_transaction(tx_id, box.provider()) == "created"
        for _ in range(40):
            if pse_tasks.query_transaction(tx_id, box.provider()) == "OK":
                break
            import time
            time.sleep(0.2)
        with session_scope() as session:
            assert processing.settle_intent(session, intent_id).state is IntentState.APPLIED
    finally:
        box.stop()

    result = reverse(intent_id)
    assert result.reversed_now and len(result.reversal_entry_ids) == 2
    # Rentadiario: its 1,000 back, plus the PSE part; everything else as before.
    assert result.credited_to_savings == {demo.rentadiario_id: amount}
    after = balances_of(demo.member_id)
    assert after[demo.rentadiario_id] - before[demo.rentadiario_id] == amount - savings
    assert after[demo.rentahorrito_id] == before[demo.rentahorrito_id]
    assert obligations_state(demo.member_id) == before_obligations
    assert_ledger_balanced()
    with session_scope() as session:
        kinds = session.execute(text(
            "SELECT kind, reversal_of_id IS NOT NULL FROM journal_entries WHERE payment_intent_id = :i ORDER BY id"),
            {"i": intent_id}).all()
        assert [tuple(k) for k in kinds] == [("payment", False), ("reversal", True), ("reversal_pse_refund", False)]
        mails = dict(session.execute(text(
            "SELECT dedupe_key, status FROM notification_outbox WHERE dedupe_key IN (:r, :n)"),
            {"r": f"payment-receipt:{intent_id}", "n": f"payment-reversed:{intent_id}"}).all())
        assert mails == {f"payment-receipt:{intent_id}": "failed", f"payment-reversed:{intent_id}": "pending"}
        notice = session.execute(text("SELECT body FROM notification_outbox WHERE dedupe_key = :n"),
                                 {"n": f"payment-reversed:{intent_id}"}).scalar_one()
        assert format_cop(amount - savings) in notice


def test_two_operators_reversing_at_once_reverse_once(demo) -> None:  # noqa: ANN001
    intent_id = pay(demo, *dues_payment(demo)[:2])
    barrier = threading.Barrier(3)
    results: list[object] = []

    def go() -> None:
        barrier.wait()
        results.append(reverse(intent_id))

    threads = [threading.Thread(target=go) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(r.reversed_now for r in results) == [False, False, True]
    with session_scope() as session:
        assert session.execute(text("SELECT count(*) FROM journal_entries WHERE kind = 'reversal'"
                                    " AND payment_intent_id = :i"), {"i": intent_id}).scalar_one() == 1
    assert_ledger_balanced()


def test_refund_for_a_review_item_resolves_it_once(demo) -> None:  # noqa: ANN001
    from db.payments.late_approvals import file_review
    from db.models import ReviewKind

    intent_id = pay(demo, *dues_payment(demo)[:2])
    with session_scope() as session:
        file_review(session, kind=ReviewKind.CONCILIATION_MISMATCH, intent_id=intent_id,
                    reason="PSE aprobó y aquí no consta", amount=Decimal("5000"), detail={})
        item = session.execute(text("SELECT id FROM review_items WHERE payment_intent_id = :i"),
                               {"i": intent_id}).scalar_one()
    with session_scope() as session:
        done = refund_to_savings(session, intent_id, Decimal("5000"), review_item_id=item, **WHO)
    assert done.refunded_now and done.request_key == f"review:{item}"
    with session_scope() as session:
        again = refund_to_savings(session, intent_id, Decimal("5000"), review_item_id=item, **WHO)
        state = session.execute(text("SELECT state FROM review_items WHERE id = :r"), {"r": item}).scalar_one()
    assert not again.refunded_now and state == "resolved"
    with pytest.raises(RefundRejected), session_scope() as session:  # an item of another intent
        refund_to_savings(session, intent_id, Decimal("1"), request_key="other", review_item_id=item + 999, **WHO)
