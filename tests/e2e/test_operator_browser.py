"""The operator console in a real browser, on the real stack (gunicorn, a Celery worker on
the real broker): the demo member's aportes are paid from Rentadiario and applied by the
worker; an operador created by `zona operator add` logs in with key and TOTP (the code
computed with pyotp), finds the payment by its receipt number, reads its story and asks
for a reversal; a supervisor, created the same way, inscribes the authenticator on the
enrolment page (QR shown once), logs in and approves. Afterwards the member's
obligations and balances are as before the payment, the ledger balances, and both
actions appear on the story with their reasons."""
from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import redirect_stdout
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pyotp
import pytest
from sqlalchemy import text

from db import operators as ops
from db.engine import session_scope
from db.models import ObligationKind, SavingsProduct
from tests.e2e.zone_stack import zone_stack
from tests.support.payments import (
    DEMO_DOCUMENT,
    OTHER_DOCUMENT,
    Demo,
    assert_ledger_balanced,
    available,
    balances_of,
    member_ids,
    one_intent,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REQUEST_REASON = "El asociado pagó dos veces los aportes de este mes por error"
APPROVAL_REASON = "Confirmado con el extracto: se devuelve el pago duplicado"


@pytest.fixture(scope="module")
def stack(database_url: str, state_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with zone_stack(database_url, state_dir, tmp_path_factory.mktemp("e2e-operator")) as running:
        yield running


def demo() -> Demo:
    with session_scope() as session:
        member_id, accounts, obligations = member_ids(session, DEMO_DOCUMENT)
        other_id, other_accounts, other_obligations = member_ids(session, OTHER_DOCUMENT)
    return Demo(member_id, accounts[SavingsProduct.RENTADIARIO.value], accounts[SavingsProduct.RENTAHORRITO.value],
                obligations[ObligationKind.APORTES.value], obligations[ObligationKind.AHORRO_PERMANENTE.value],
                obligations[ObligationKind.LOAN.value], other_id, other_accounts[SavingsProduct.RENTADIARIO.value],
                other_obligations[ObligationKind.APORTES.value])


def obligations_state(member_id: int) -> list[tuple]:
    with session_scope() as session:
        rows = session.execute(text(
            "SELECT i.id, i.principal, i.interest, i.fees, i.late_interest, i.paid_principal, i.paid_interest,"
            " i.paid_fees, i.paid_late_interest, o.status FROM installments i JOIN obligations o"
            " ON o.id = i.obligation_id WHERE o.member_id = :m ORDER BY i.id"), {"m": member_id}).all()
    return [tuple(r) for r in rows]


def add_operator(name: str, role: str) -> str:
    """`zona operator add NAME --role ROLE`, as an administrator runs it; the printed key."""
    from zona_privada.cli import main

    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["operator", "add", name, "--role", role]) == 0
    return out.getvalue().split("clave inicial: ")[1].split()[0]


def wait_applied(intent_id: int, timeout_s: float = 20) -> int:
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with session_scope() as session:
            state, receipt = session.execute(text(
                "SELECT state, receipt_number FROM payment_intents WHERE id = :i"), {"i": intent_id}).one()
        if state == "applied":
            return int(receipt)
        time.sleep(0.2)
    raise AssertionError(f"intent {intent_id} still {state}")


def login(page: Any, base: str, username: str, key: str, code: str) -> None:
    page.goto(f"{base}/operador/ingresar")
    page.fill("#usuario", username)
    page.fill("#clave", key)
    page.fill("#codigo", code)
    page.click("#ingresar")


def test_an_operator_asks_a_supervisor_approves_and_the_payment_is_reversed(stack: dict[str, Any], browser) -> None:  # noqa: ANN001
    from tests.integration.operator.console import away_from_step_edge
    from workers.payment_tasks import enqueue_intent

    base = stack["base"]
    d = demo()
    before_obligations = obligations_state(d.member_id)
    before_balances, before_available = balances_of(d.member_id), available(d.member_id)

    # The member's payment, written as "Finalizar" writes it and applied by the real worker.
    intent_id, _amount = one_intent(d, d.aportes_id)
    enqueue_intent(intent_id)
    receipt = wait_applied(intent_id)
    assert obligations_state(d.member_id) != before_obligations

    # Two operators, as the administrator creates them.
    ana_key = add_operator("ana", "operador")
    luis_key = add_operator("luis", "supervisor")
    # Ana's authenticator was inscribed earlier (the code of the previous step used then).
    with session_scope() as session:
        ana_id = session.execute(text("SELECT id FROM operators WHERE username = 'ana'")).scalar_one()
    away_from_step_edge()
    with session_scope() as session:
        ana_secret = ops.draw_totp_secret(session, ana_id)
    with session_scope() as session:
        previous = pyotp.TOTP(ana_secret).at(datetime.now(timezone.utc) - timedelta(seconds=30))
        assert ops.finish_enrolment(session, ops.Actor(ana_id, "127.0.0.1"), previous) is ops.LoginResult.SUCCEEDED

    ana_ctx = browser.new_context(locale="es-CO", timezone_id="America/Bogota")
    luis_ctx = browser.new_context(locale="es-CO", timezone_id="America/Bogota")
    try:
        ana = ana_ctx.new_page()
        ana.set_default_timeout(15_000)
        # Ana logs in with key and TOTP code.
        away_from_step_edge()
        login(ana, base, "ana", ana_key, pyotp.TOTP(ana_secret).now())
        ana.locator("#op-role").wait_for()
        assert ana.locator("#op-role").inner_text() == "Operador"
        # Finds the payment by its receipt number and reads its story.
        ana.fill("#q", str(receipt))
        ana.click("#buscar")
        ana.locator(f'tr[data-intent="{intent_id}"] a').click()
        ana.locator("#op-intent-state").wait_for()
        assert ana.locator("#op-intent-state").inner_text() == "Aplicado"
        assert ana.locator("#op-receipt").inner_text() == str(receipt)
        assert ana.locator("#op-attempts tbody tr").count() == 1
        assert ana.locator("#op-entries tbody tr").count() >= 2
        assert ana.locator("#op-allocations tbody tr").count() >= 1
        # Asks for the reversal: nothing happens yet.
        ana.fill("#motivo-reversion", REQUEST_REASON)
        ana.click("#solicitar-reversion")
        ana.locator("#op-done").wait_for()
        with session_scope() as session:
            request_id, state = session.execute(text("SELECT id, state FROM operator_requests")).one()
            intent_state = session.execute(text("SELECT state FROM payment_intents WHERE id = :i"),
                                           {"i": intent_id}).scalar_one()
        assert (state, intent_state) == ("pending", "applied")

        luis = luis_ctx.new_page()
        luis.set_default_timeout(15_000)
        # Luis's first login: the key, then the enrolment page with its QR shown once.
        login(luis, base, "luis", luis_key, "")
        luis.locator("#op-qr svg").wait_for()
        secret = luis.locator("#op-secret").inner_text()
        away_from_step_edge()
        luis.fill("#codigo", pyotp.TOTP(secret).now())
        luis.click("#inscribir")
        luis.locator("#op-role").wait_for()
        assert luis.locator("#op-role").inner_text() == "Supervisor"
        # Approves Ana's request.
        luis.goto(f"{base}/operador/solicitudes")
        luis.fill(f"#motivo-{request_id}", APPROVAL_REASON)
        luis.click(f"#aprobar-{request_id}")
        luis.locator("#op-decided-requests").wait_for()

        # The member is exactly where they were before the payment; the ledger balances.
        with session_scope() as session:
            assert session.execute(text("SELECT state FROM payment_intents WHERE id = :i"),
                                   {"i": intent_id}).scalar_one() == "reversed"
            assert session.execute(text("SELECT state, decided_by IS NOT NULL FROM operator_requests")).one() \
                == ("approved", True)
            audited = session.execute(text(
                "SELECT o.username, x.kind, x.reason FROM operator_actions x JOIN operators o ON o.id = x.operator_id"
                " WHERE x.payment_intent_id = :i ORDER BY x.id"), {"i": intent_id}).all()
        assert obligations_state(d.member_id) == before_obligations
        assert balances_of(d.member_id) == before_balances
        assert available(d.member_id) == before_available
        assert_ledger_balanced()
        assert [tuple(a) for a in audited] == [("ana", "reversal_requested", REQUEST_REASON),
                                               ("luis", "request_approved", APPROVAL_REASON)]
        # Both actions, with their reasons, on the payment's story.
        luis.goto(f"{base}/operador/pagos/{intent_id}")
        assert luis.locator("#op-intent-state").inner_text() == "Reversado"
        log = luis.locator("#op-actions-log").inner_text()
        assert REQUEST_REASON in log and APPROVAL_REASON in log and "ana" in log and "luis" in log
    finally:
        ana_ctx.close()
        luis_ctx.close()
