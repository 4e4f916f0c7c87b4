"""PSE payments, step by step (issue 10 §3–§5), against the real sandbox over HTTP and the
real database; the worker's functions are called in-process so each step's effect can be
checked on its own (the fault run in tests/integration/pse_faults drives the same code
through real Celery workers)."""
from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import text

from db.engine import session_scope
from db.payments import processing, pse
from db.payments.intents import PseContext, create_intent, requirements_table, utcnow
from db.payments.pse_views import pse_checkout, pse_receipt
from domain.payment_states import AttemptState, IntentState
from domain.requirements import REASON_PSE_PENDING
from tests.support.payments import Demo, assert_ledger_balanced, available, new_key
from tests.support.pse import Sandbox
from workers import pse_tasks
from zona_privada.settings import get_settings

RETURN = "http://zona.test/pagos/pse/retorno?ticket="
PAYER_IP = "203.0.113.7"


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    root = tmp_path_factory.mktemp("pse-payments")
    sandbox = Sandbox(root / "logs", root / "state")
    sandbox.start()
    yield sandbox
    sandbox.stop()


@pytest.fixture()
def sandbox(box: Sandbox, demo: Demo) -> Sandbox:
    box.control("reset", {})
    provider = box.provider()
    assert pse_tasks.refresh_bank_list(provider, box.settings(), force=True)
    return box


def _amount(demo: Demo, obligation_id: int) -> Decimal:
    from db.member_summary import obligations_overview
    from db.seed import bogota_today

    with session_scope() as session:
        items = {o.obligation_id: o.next_installment for o in obligations_overview(session, demo.member_id,
                                                                                   bogota_today())}
    return items[obligation_id]


def pse_intent(demo: Demo, bank: str, *, savings: Decimal = Decimal("0"), obligation_id: int | None = None
               ) -> tuple[int, int, Decimal]:
    """A PSE (or savings + PSE) payment of the obligation's next installment, created and
    held (created → funding) as the hold task would; (intent, pse transaction, amount)."""
    obligation_id = obligation_id or demo.aportes_id
    amount = _amount(demo, obligation_id)
    funding: list[dict[str, object]] = [{"pse": True, "amount": amount - savings, "bank_code": bank, "user_type": 0}]
    if savings:
        funding.append({"savings_account_id": demo.rentadiario_id, "amount": savings})
    with session_scope() as session:
        new = create_intent(session, member_id=demo.member_id, idempotency_key=new_key(), kind="payment",
                            lines=[{"obligation_id": obligation_id, "amount": amount}], funding=funding,
                            pse=PseContext(PAYER_IP, RETURN))
    with session_scope() as session:
        held = processing.place_holds(session, new.intent_id)
        assert held.state is IntentState.FUNDING and held.next_steps == ("pse_send",)
        tx_id = session.execute(text(
            "SELECT t.id FROM pse_transactions t JOIN funding_attempts f ON f.id = t.attempt_id "
            "WHERE f.intent_id = :id"), {"id": new.intent_id}).scalar_one()
    return new.intent_id, tx_id, amount


def row(sql: str, **params: object) -> dict[str, object]:
    with session_scope() as session:
        return dict(session.execute(text(sql), params).one()._mapping)


def tx(tx_id: int) -> dict[str, object]:
    return row("SELECT t.*, f.state AS attempt_state, p.state AS intent_state FROM pse_transactions t "
               "JOIN funding_attempts f ON f.id = t.attempt_id JOIN payment_intents p ON p.id = f.intent_id "
               "WHERE t.id = :id", id=tx_id)


def settle(intent_id: int) -> processing.StepResult:
    with session_scope() as session:
        return processing.settle_intent(session, intent_id)


def query_until_final(sandbox: Sandbox, tx_id: int, timeout_s: float = 8) -> str:
    provider = sandbox.provider()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        answer = pse_tasks.query_transaction(tx_id, provider)
        if answer in ("OK", "NOT_AUTHORIZED", "FAILED", "nothing_to_query"):
            return answer
        time.sleep(0.2)
    raise AssertionError(f"transaction {tx_id} never decided: {tx(tx_id)}")


def review_kinds(intent_id: int) -> list[str]:
    with session_scope() as session:
        return list(session.execute(text("SELECT kind FROM review_items WHERE payment_intent_id = :id ORDER BY id"),
                                    {"id": intent_id}).scalars())


def test_approved_pse_payment_is_created_once_applied_once_and_finalized(sandbox: Sandbox, demo: Demo) -> None:
    intent_id, tx_id, amount = pse_intent(demo, "9101")
    with session_scope() as session:
        assert pse_checkout(session, demo.member_id, intent_id).state == "esperando"
    assert pse_tasks.send_transaction(tx_id, sandbox.provider()) == "created"
    sent = tx(tx_id)
    assert sent["state"] == "PENDING" and sent["trazability_code"] and sent["bank_url"]
    assert sent["entity_url"] == f"{RETURN}{sent['ticket_id']}" and sent["payer_ip"] == PAYER_IP
    assert sent["next_poll_at"] is not None
    with session_scope() as session:
        checkout = pse_checkout(session, demo.member_id, intent_id)
    assert checkout.state == "redirigir" and checkout.bank_url == sent["bank_url"]
    # A second send (a duplicate message, a re-drive) sends nothing.
    assert pse_tasks.send_transaction(tx_id, sandbox.provider()) == "nothing_to_send"
    assert sandbox.creates_for(int(sent["ticket_id"])) == ["created"]

    assert query_until_final(sandbox, tx_id) == "OK"
    assert tx(tx_id)["intent_state"] == IntentState.FUNDED.value
    result = settle(intent_id)
    assert result.state is IntentState.APPLIED and result.next_steps == ("pse_finalize",)
    assert pse_tasks.finalize_transaction(tx_id, sandbox.provider()) == "SUCCESS"
    assert pse_tasks.finalize_transaction(tx_id, sandbox.provider()) == "nothing_to_finalize"
    done = tx(tx_id)
    assert done["attempt_state"] == AttemptState.POSTED.value and done["resolution"] == "applied"
    assert done["finalized_at"] is not None and done["finalize_code"] == "SUCCESS"
    # The money came from ACH into the bank account: one entry, the bank debited.
    bank_debit = row("""SELECT coalesce(sum(l.debit), 0) AS d FROM journal_lines l
                        JOIN journal_entries e ON e.id = l.entry_id JOIN ledger_accounts a ON a.id = l.ledger_account_id
                        WHERE e.payment_intent_id = :id AND a.cuif_code = '111005'""", id=intent_id)["d"]
    assert bank_debit == amount
    assert_ledger_balanced()
    with session_scope() as session:
        receipt = pse_receipt(session, demo.member_id, str(done["ticket_id"]), company_nit="890900123")
    assert receipt.state == "OK" and receipt.state_label == "Aprobada" and receipt.cus == done["trazability_code"]
    assert receipt.amount == amount and receipt.payer_ip == PAYER_IP and receipt.bank_code == "9101"


def test_bank_rejection_of_savings_plus_pse_applies_nothing_and_frees_the_hold(sandbox: Sandbox, demo: Demo) -> None:
    before = available(demo.member_id)[demo.rentadiario_id]
    intent_id, tx_id, amount = pse_intent(demo, "9102", savings=Decimal("1000"))
    assert available(demo.member_id)[demo.rentadiario_id] < before  # the savings part is reserved
    pse_tasks.send_transaction(tx_id, sandbox.provider())
    assert query_until_final(sandbox, tx_id) == "NOT_AUTHORIZED"
    final = tx(tx_id)
    assert final["intent_state"] == IntentState.REJECTED.value and final["attempt_state"] == "declined"
    assert available(demo.member_id)[demo.rentadiario_id] == before
    pending_holds = row("SELECT count(*) AS n FROM holds h JOIN funding_attempts f ON f.id = h.attempt_id "
                        "WHERE f.intent_id = :id AND h.state = 'pending'", id=intent_id)["n"]
    assert pending_holds == 0
    assert row("SELECT count(*) AS n FROM journal_entries WHERE payment_intent_id = :id", id=intent_id)["n"] == 0
    # The member may pay again at once: nothing blocks the obligation.
    pse_intent(demo, "9101")


def test_a_refused_create_releases_the_intent_with_a_spanish_reason(sandbox: Sandbox, demo: Demo) -> None:
    intent_id, tx_id, _ = pse_intent(demo, "9111")  # FAIL_BANKUNREACHEABLE
    assert pse_tasks.send_transaction(tx_id, sandbox.provider()).startswith("refused")
    final = tx(tx_id)
    assert final["state"] == "NOT_CREATED" and final["intent_state"] == IntentState.REJECTED.value
    with session_scope() as session:
        checkout = pse_checkout(session, demo.member_id, intent_id)
    assert checkout.state == "rechazado" and "PSE no aceptó" in (checkout.message or "")


def test_a_lost_create_is_never_resent_blocks_the_obligation_and_conciliation_resolves_it(
        sandbox: Sandbox, demo: Demo) -> None:
    intent_id, tx_id, amount = pse_intent(demo, "9109")  # approved at the bank, connection cut
    assert pse_tasks.send_transaction(tx_id, sandbox.provider()) == "unknown"
    lost = tx(tx_id)
    assert lost["state"] == "UNKNOWN" and lost["attempt_state"] == AttemptState.UNKNOWN.value
    assert pse_tasks.send_transaction(tx_id, sandbox.provider()) == "nothing_to_send"
    assert sandbox.creates_for(int(lost["ticket_id"])).count("created") == 1
    # The obligation is blocked as pending (the standard PENDIENTE message).
    from db.payments.intents import build_request

    request = build_request(kind="payment", lines=[{"obligation_id": demo.aportes_id, "amount": amount}],
                            funding=[{"savings_account_id": demo.rentadiario_id, "amount": amount}])
    with session_scope() as session:
        rows = requirements_table(session, demo.member_id, request)
    blocked = [r for r in rows if r.reason == REASON_PSE_PENDING]
    assert blocked and "PENDIENTE de recibir confirmación" in blocked[0].observacion

    from domain.bogota_calendar import bogota_date

    outcome = pse_tasks.conciliate_day(bogota_date(utcnow()), final=False, provider=sandbox.provider())
    assert outcome["resolved"] == 1, outcome
    resolved = tx(tx_id)
    assert resolved["state"] == "OK" and resolved["trazability_code"] and resolved["intent_state"] == "funded"
    assert settle(intent_id).state is IntentState.APPLIED
    assert tx(tx_id)["attempt_state"] == AttemptState.POSTED.value
    assert "unknown_create_resolved" in review_kinds(intent_id)
    assert_ledger_balanced()


def test_an_unknown_create_absent_from_a_closed_days_file_is_declined(sandbox: Sandbox, demo: Demo) -> None:
    intent_id, tx_id, _ = pse_intent(demo, "9101")
    # The worker committed SENT and died before the create left: nothing at PSE.
    with session_scope() as session:
        assert pse.begin_send(session, tx_id) is not None
    with session_scope() as session:
        pse.record_send_lost(session, tx_id, "el proceso murió")
    from domain.bogota_calendar import bogota_date

    today = bogota_date(utcnow())
    assert pse_tasks.conciliate_day(today, final=False, provider=sandbox.provider())["resolved"] == 0
    assert tx(tx_id)["state"] == "UNKNOWN"  # an open day proves nothing
    # Today's file, closed, proves nothing either: a create sent before midnight may be
    # decided after it. Tomorrow's closed file, read with today's, does.
    assert pse_tasks.conciliate_day(today, final=True, provider=sandbox.provider())["never_reached"] == 0
    assert tx(tx_id)["state"] == "UNKNOWN"
    outcome = pse_tasks.conciliate_day(today + timedelta(days=1), final=True, provider=sandbox.provider())
    assert outcome["never_reached"] == 1, outcome
    final = tx(tx_id)
    assert final["state"] == "NOT_CREATED" and final["attempt_state"] == "declined"
    assert final["intent_state"] == IntentState.REJECTED.value
    assert sandbox.creates_for(int(final["ticket_id"])) == []


def _expire(intent_id: int) -> None:
    settings = get_settings()
    with session_scope() as session:
        result = processing.expire_if_overdue(
            session, intent_id, now=utcnow() + timedelta(seconds=settings.pse_funding_window_s + 1))
    assert result.state is IntentState.EXPIRED


def test_a_late_approval_of_a_pse_payment_is_applied_and_reviewed(sandbox: Sandbox, demo: Demo) -> None:
    sandbox.control("timing", {"late_s": 1.5})
    intent_id, tx_id, amount = pse_intent(demo, "9106")
    pse_tasks.send_transaction(tx_id, sandbox.provider())
    assert pse_tasks.query_transaction(tx_id, sandbox.provider()) == "PENDING"
    _expire(intent_id)
    expired = tx(tx_id)
    # Expired for the member, but never failed locally: PSE is still asked.
    assert expired["intent_state"] == "expired" and expired["attempt_state"] == "pending"
    assert expired["state"] == "PENDING"
    assert query_until_final(sandbox, tx_id) == "OK"
    late = tx(tx_id)
    assert late["intent_state"] == IntentState.APPLIED.value and late["resolution"] == "late_applied"
    assert late["attempt_state"] == AttemptState.POSTED.value
    assert review_kinds(intent_id) == ["late_approval_applied"]
    assert row("SELECT receipt_number FROM payment_intents WHERE id = :id", id=intent_id)["receipt_number"]
    assert pse_tasks.finalize_transaction(tx_id, sandbox.provider()) == "SUCCESS"
    assert_ledger_balanced()


def test_a_late_approval_of_savings_plus_pse_is_refunded_to_rentadiario(sandbox: Sandbox, demo: Demo) -> None:
    sandbox.control("timing", {"late_s": 1.5})
    before = available(demo.member_id)[demo.rentadiario_id]
    intent_id, tx_id, amount = pse_intent(demo, "9106", savings=Decimal("1000"))
    pse_tasks.send_transaction(tx_id, sandbox.provider())
    _expire(intent_id)
    assert available(demo.member_id)[demo.rentadiario_id] == before  # hold voided at expiry
    assert query_until_final(sandbox, tx_id) == "OK"
    refunded = tx(tx_id)
    assert refunded["intent_state"] == "expired" and refunded["resolution"] == "refunded"
    # The PSE part (the amount minus the savings part) is the member's again, in savings.
    assert available(demo.member_id)[demo.rentadiario_id] == before + amount - Decimal("1000")
    assert review_kinds(intent_id) == ["late_approval_refunded"]
    assert row("SELECT count(*) AS n FROM allocations WHERE intent_id = :id", id=intent_id)["n"] == 0
    assert_ledger_balanced()


def test_an_approval_whose_settle_fails_is_refunded_not_lost(sandbox: Sandbox, demo: Demo) -> None:
    before = available(demo.member_id)[demo.rentadiario_id]
    intent_id, tx_id, amount = pse_intent(demo, "9101")
    pse_tasks.send_transaction(tx_id, sandbox.provider())
    assert query_until_final(sandbox, tx_id) == "OK"
    with session_scope() as session:  # the obligation closed between the approval and the settle
        session.execute(text("UPDATE obligations SET status = 'closed' WHERE id = :id"), {"id": demo.aportes_id})
    assert settle(intent_id).state is IntentState.FAILED
    failed = tx(tx_id)
    assert failed["resolution"] == "refunded" and failed["attempt_state"] == AttemptState.POSTED.value
    assert available(demo.member_id)[demo.rentadiario_id] == before + amount
    assert review_kinds(intent_id) == ["approved_not_applied"]
    assert_ledger_balanced()


@pytest.mark.parametrize("mode", ["malformed", "fault", "http_503"])
def test_a_bad_answer_from_pse_leaves_the_payment_pending(sandbox: Sandbox, demo: Demo, mode: str) -> None:
    intent_id, tx_id, _ = pse_intent(demo, "9101")
    pse_tasks.send_transaction(tx_id, sandbox.provider())
    sandbox.control("faults", {"operation": "getTransactionInformation", "mode": mode, "times": 10})
    assert pse_tasks.query_transaction(tx_id, sandbox.provider()) == "no_answer"
    still = tx(tx_id)
    assert still["state"] == "PENDING" and still["attempt_state"] == "pending"
    assert still["intent_state"] == IntentState.FUNDING.value
    sandbox.control("faults", {"operation": "getTransactionInformation", "mode": "http_503", "times": 0})


def test_an_answer_with_another_amount_is_never_applied(sandbox: Sandbox, demo: Demo) -> None:
    intent_id, tx_id, amount = pse_intent(demo, "9101")
    pse_tasks.send_transaction(tx_id, sandbox.provider())
    cus = tx(tx_id)["trazability_code"]
    sandbox.control(f"transactions/{cus}", {"amount": str(amount + 1)})
    assert pse_tasks.query_transaction(tx_id, sandbox.provider()) == "OK"  # what PSE said…
    kept = tx(tx_id)
    assert kept["state"] == "PENDING" and kept["intent_state"] == IntentState.FUNDING.value  # …not acted on
    from domain.bogota_calendar import bogota_date

    outcome = pse_tasks.conciliate_day(bogota_date(utcnow()), final=False, provider=sandbox.provider())
    assert outcome["resolved"] == 0 and outcome["mismatches"] >= 1
    assert "conciliation_mismatch" in review_kinds(intent_id)


def test_conciliation_files_mismatches_planted_in_the_sandbox(sandbox: Sandbox, demo: Demo) -> None:
    intent_id, tx_id, amount = pse_intent(demo, "9101")
    pse_tasks.send_transaction(tx_id, sandbox.provider())
    query_until_final(sandbox, tx_id)
    settle(intent_id)
    cus = tx(tx_id)["trazability_code"]
    sandbox.control(f"transactions/{cus}", {"state": "NOT_AUTHORIZED"})  # ACH says it was not approved
    from domain.bogota_calendar import bogota_date

    today = bogota_date(utcnow())
    sandbox.control("conciliation", {"ticketId": 987654321, "trazabilityCode": "999000111", "amount": "5000.00",
                                     "state": "OK", "date": today.isoformat()})
    outcome = pse_tasks.conciliate_day(today, final=False, provider=sandbox.provider())
    assert outcome["mismatches"] == 2, outcome
    with session_scope() as session:
        kinds = {r.detail["mismatch"]: r.payment_intent_id for r in session.execute(text(
            "SELECT detail, payment_intent_id FROM review_items WHERE kind = 'conciliation_mismatch'"))}
    assert kinds == {"aprobada_aqui_no_en_pse": intent_id, "desconocida_aqui": None}
    # A second run files nothing new.
    pse_tasks.conciliate_day(today, final=False, provider=sandbox.provider())
    assert row("SELECT count(*) AS n FROM review_items WHERE kind = 'conciliation_mismatch'")["n"] == 2


def test_the_poller_claims_due_queries_once_and_turns_stale_sends_unknown(sandbox: Sandbox, demo: Demo) -> None:
    _, tx_a, _ = pse_intent(demo, "9104", obligation_id=demo.aportes_id)
    pse_tasks.send_transaction(tx_a, sandbox.provider())
    _, tx_b, _ = pse_intent(demo, "9101", obligation_id=demo.permanente_id)
    with session_scope() as session:
        pse.begin_send(session, tx_b)  # SENT, the worker died before the answer was stored
    settings = get_settings()
    later = utcnow() + timedelta(seconds=max(settings.pse_send_timeout_s, 600) + 1)
    with session_scope() as session:
        first = pse.sweep(session, now=later, lease_s=60)
    with session_scope() as session:
        second = pse.sweep(session, now=later, lease_s=60)
    assert tx_a in first.queries and tx_a not in second.queries  # leased: asked once
    assert tx_b in first.unknown
    with session_scope() as session:
        pse.record_send_lost(session, tx_b, "sin respuesta")
    assert tx(tx_b)["state"] == "UNKNOWN"


@pytest.mark.parametrize("mode,outcome,state", [
    ("malformed", "unknown", "UNKNOWN"),   # work done at PSE, the answer cut short: never resent
    ("lost_create", "unknown", "UNKNOWN"),  # work done, connection cut
    ("http_503", "refused", "NOT_CREATED"),  # the front end failed before any work, every retry
])
def test_a_create_answered_badly_is_never_applied_nor_resent(sandbox: Sandbox, demo: Demo, mode: str, outcome: str,
                                                            state: str) -> None:
    intent_id, tx_id, _ = pse_intent(demo, "9101")
    sandbox.control("faults", {"operation": "createTransactionPayment", "mode": mode, "times": 10})
    assert pse_tasks.send_transaction(tx_id, sandbox.provider()).startswith(outcome)
    sandbox.control("faults", {"operation": "createTransactionPayment", "mode": mode, "times": 0})
    after = tx(tx_id)
    assert after["state"] == state
    assert after["intent_state"] == (IntentState.FUNDING.value if outcome == "unknown" else IntentState.REJECTED.value)
    assert pse_tasks.send_transaction(tx_id, sandbox.provider()) == "nothing_to_send"
    created = sandbox.creates_for(int(after["ticket_id"])).count("created")
    assert created == (1 if outcome == "unknown" else 0)
    assert row("SELECT count(*) AS n FROM journal_entries WHERE payment_intent_id = :id", id=intent_id)["n"] == 0


def test_a_pse_payment_whose_savings_part_is_short_is_rejected_before_anything_is_sent(
        sandbox: Sandbox, demo: Demo) -> None:
    amount = _amount(demo, demo.aportes_id)
    with session_scope() as session:
        new = create_intent(session, member_id=demo.member_id, idempotency_key=new_key(), kind="payment",
                            lines=[{"obligation_id": demo.aportes_id, "amount": amount}],
                            funding=[{"pse": True, "amount": amount - Decimal("1000"), "bank_code": "9101",
                                      "user_type": 0},
                                     {"savings_account_id": demo.rentadiario_id, "amount": Decimal("1000")}],
                            pse=PseContext(PAYER_IP, RETURN))
    with session_scope() as session:  # the savings were spent meanwhile: only the minimum is left
        session.execute(text("UPDATE savings_accounts SET minimum_balance = 10000000000 WHERE id = :id"),
                        {"id": demo.rentadiario_id})
    with session_scope() as session:
        assert processing.place_holds(session, new.intent_id).state is IntentState.REJECTED
    (tx_row,) = [tx(t) for t in [row("SELECT t.id FROM pse_transactions t JOIN funding_attempts f "
                                     "ON f.id = t.attempt_id WHERE f.intent_id = :id", id=new.intent_id)["id"]]]
    assert tx_row["state"] == "NOT_CREATED" and tx_row["attempt_state"] == "declined"
    assert pse_tasks.send_transaction(int(tx_row["id"]), sandbox.provider()) == "nothing_to_send"
    assert sandbox.creates_for(int(tx_row["ticket_id"])) == []
