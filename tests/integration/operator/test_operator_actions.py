"""The console's views and actions: search by document, intent id, CUS and receipt
number; a payment's story; four eyes on reversals and refunds; "consultar ahora",
re-drive and review resolution; every form's bad input answered in Spanish with a 4xx
and nothing changed; every action audited with who, when, from where and why."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal

import pytest
from flask import Flask
from sqlalchemy import text

from db.engine import session_scope
from db.models import ReviewItem
from db.payments import processing, pse
from db.payments.intents import PseContext, create_intent
from db.pse_banks import replace_banks
from domain.pse_messages import CreateResult
from domain.pse_polling import DEFAULT_PHASES
from tests.integration.operator.console import actions_of, console, counts, make_operator
from tests.support import redis_scan
from tests.support.payments import Demo, assert_ledger_balanced, available, balances_of, new_key, one_intent
from zona_privada.settings import get_settings

pytestmark = pytest.mark.integration

REASON = "El asociado reporta un pago duplicado por error"
CUS = "CUS-0099887766"


def obligations_state(member_id: int) -> list[tuple]:
    with session_scope() as session:
        rows = session.execute(text(
            "SELECT i.id, i.principal, i.interest, i.fees, i.late_interest, i.paid_principal, i.paid_interest,"
            " i.paid_fees, i.paid_late_interest FROM installments i JOIN obligations o ON o.id = i.obligation_id"
            " WHERE o.member_id = :m ORDER BY i.id"), {"m": member_id}).all()
    return [tuple(r) for r in rows]


def pse_pending_intent(demo: Demo) -> tuple[int, int]:
    """A PSE payment of the demo's ahorro permanente, held, sent and answered SUCCESS with
    a CUS, through the worker's own step functions; (intent, pse transaction)."""
    with session_scope() as session:
        replace_banks(session, [("9101", "Banco Prueba")], datetime.now(timezone.utc))
    from db.member_summary import obligations_overview
    from db.seed import bogota_today

    with session_scope() as session:
        amount = {o.obligation_id: o.next_installment
                  for o in obligations_overview(session, demo.member_id, bogota_today())}[demo.permanente_id]
        new = create_intent(session, member_id=demo.member_id, idempotency_key=new_key(), kind="payment",
                            lines=[{"obligation_id": demo.permanente_id, "amount": amount}],
                            funding=[{"pse": True, "amount": amount, "bank_code": "9101", "user_type": 0}],
                            pse=PseContext("203.0.113.7", "http://zona.test/pagos/pse/retorno?ticket="))
    with session_scope() as session:
        processing.place_holds(session, new.intent_id)
        tx_id = session.execute(text(
            "SELECT t.id FROM pse_transactions t JOIN funding_attempts f ON f.id = t.attempt_id"
            " WHERE f.intent_id = :id"), {"id": new.intent_id}).scalar_one()
    with session_scope() as session:
        assert pse.begin_send(session, tx_id) is not None
    with session_scope() as session:
        pse.record_created(session, tx_id, CreateResult("SUCCESS", CUS, "http://banco.test/pagar", "1"),
                           phases=DEFAULT_PHASES)
    return new.intent_id, tx_id


def queued_tasks() -> list[tuple[str, list[int]]]:
    return [(task, json.loads(args)) for task, args in redis_scan.queued_tasks(get_settings().broker_redis_url)]


# ------------------------------------------------------------------ search and story

def test_search_by_document_intent_id_cus_and_receipt_number(app: Flask, demo: Demo, applied: int) -> None:
    pse_intent, _tx = pse_pending_intent(demo)
    ana = make_operator("ana", "operador")
    c = console(app).logged_in(ana)
    with session_scope() as session:
        receipt = session.execute(text("SELECT receipt_number FROM payment_intents WHERE id = :id"),
                                  {"id": applied}).scalar_one()
    assert receipt is not None

    def found(**params: str) -> set[int]:
        response = c.get("/operador/", query_string=params)
        assert response.status_code == 200
        page = response.get_data(as_text=True)
        return {int(x) for x in __import__("re").findall(r'data-intent="(\d+)"', page)}

    assert found(q="1077227777") == {applied, pse_intent}
    assert found(q=str(applied)) >= {applied}
    assert found(q=CUS) == {pse_intent}
    assert found(q=str(receipt)) >= {applied}
    assert found(q=str(receipt), estado="applied") == {applied}
    assert found(estado="funding") == {pse_intent}
    assert found(q="52345678") == set()  # the other member paid nothing
    for bad in ({"q": "1077'; DROP"}, {"q": "x" * 41}, {"estado": "borrado"}):
        response = c.get("/operador/", query_string=bad)
        assert response.status_code == 400, bad
        page = response.get_data(as_text=True)
        assert "La búsqueda admite" in page or "El estado elegido no existe" in page


def test_the_story_shows_attempts_entries_allocations_receipt_and_pse(app: Flask, demo: Demo, applied: int) -> None:
    pse_intent, _tx = pse_pending_intent(demo)
    ana = make_operator("ana", "operador")
    c = console(app).logged_in(ana)
    page = c.get(f"/operador/pagos/{applied}").get_data(as_text=True)
    for marker in ('id="op-attempts"', 'id="op-entries"', 'id="op-allocations"', "Aplicado", "210505"):
        assert marker in page, marker
    page = c.get(f"/operador/pagos/{pse_intent}").get_data(as_text=True)
    assert CUS in page and 'id="op-pse-story"' in page and "PENDING" in page
    assert c.get("/operador/pagos/999999").status_code == 404
    assert c.get("/operador/pagos/abc").status_code == 404
    page = c.get("/operador/pse").get_data(as_text=True)
    assert CUS in page
    for path in ("/operador/atascados", "/operador/incumplimientos", "/operador/revision",
                 "/operador/revision?estado=resolved", "/operador/solicitudes"):
        assert c.get(path).status_code == 200, path
    assert c.get("/operador/revision?estado=todo").status_code == 400


def test_workers_page_answers_with_no_worker_and_shows_the_queue(app: Flask, demo: Demo) -> None:
    ana = make_operator("ana", "operador")
    c = console(app).logged_in(ana)
    one_intent(demo, demo.aportes_id)
    from workers.payment_tasks import enqueue_step

    enqueue_step("apply", 1)
    page = c.get("/operador/trabajadores").get_data(as_text=True)
    assert 'id="op-queues"' in page and 'id="flower"' in page
    assert "Ningún trabajador respondió" in page
    assert '<td class="op-num">1</td>' in page


# ------------------------------------------------------------------ four eyes

def test_four_eyes_reversal(app: Flask, demo: Demo) -> None:
    before_obligations = obligations_state(demo.member_id)
    before_balances, before_available = balances_of(demo.member_id), available(demo.member_id)
    intent_id, _amount = one_intent(demo, demo.aportes_id)
    with session_scope() as session:
        processing.apply_intent(session, intent_id)
    paid_obligations, paid_balances = obligations_state(demo.member_id), balances_of(demo.member_id)
    assert paid_obligations != before_obligations

    ana = make_operator("ana", "operador")
    luis = make_operator("luis", "supervisor")
    marta = make_operator("marta", "supervisor")
    c_ana, c_luis, c_marta = console(app).logged_in(ana), console(app).logged_in(luis), console(app).logged_in(marta)

    # A supervisor asks: nothing happens yet.
    c_luis.get(f"/operador/pagos/{intent_id}")
    response = c_luis.post(f"/operador/pagos/{intent_id}/solicitar", {"tipo": "reversal", "motivo": REASON})
    assert response.status_code == 303
    with session_scope() as session:
        request_id, state = session.execute(text("SELECT id, state FROM operator_requests")).one()
    assert state == "pending"
    assert obligations_state(demo.member_id) == paid_obligations and balances_of(demo.member_id) == paid_balances
    with session_scope() as session:
        assert session.execute(text("SELECT state FROM payment_intents WHERE id = :i"),
                               {"i": intent_id}).scalar_one() == "applied"
    # A second request for the same payment while one is pending: refused.
    before = counts()
    response = c_ana.post(f"/operador/pagos/{intent_id}/solicitar", {"tipo": "reversal", "motivo": REASON})
    assert response.status_code == 409 and "Ya hay una solicitud pendiente" in response.get_data(as_text=True)
    assert counts() == before

    # An operador cannot approve; nobody approves their own request.
    decision = {"motivo": "Verificado con el extracto del banco"}
    response = c_ana.post(f"/operador/solicitudes/{request_id}/aprobar", decision)
    assert response.status_code == 403 and "Solo un supervisor" in response.get_data(as_text=True)
    response = c_luis.post(f"/operador/solicitudes/{request_id}/aprobar", decision)
    assert response.status_code == 403 and "su propia solicitud" in response.get_data(as_text=True)
    response = c_luis.post(f"/operador/solicitudes/{request_id}/rechazar", decision)
    assert response.status_code == 403
    assert counts() == before
    # The page offers the decision only to a supervisor who did not ask.
    assert f'id="aprobar-{request_id}"' not in c_luis.get("/operador/solicitudes").get_data(as_text=True)
    assert f'id="aprobar-{request_id}"' not in c_ana.get("/operador/solicitudes").get_data(as_text=True)
    assert f'id="aprobar-{request_id}"' in c_marta.get("/operador/solicitudes").get_data(as_text=True)

    # Another supervisor approves: the reversal happens, in the same transaction.
    response = c_marta.post(f"/operador/solicitudes/{request_id}/aprobar", decision)
    assert response.status_code == 303, response.get_data(as_text=True)[:600]
    with session_scope() as session:
        assert session.execute(text("SELECT state FROM payment_intents WHERE id = :i"),
                               {"i": intent_id}).scalar_one() == "reversed"
        request_row = session.execute(text("SELECT state, decided_by, decision_reason FROM operator_requests")).one()
        description = session.execute(text(
            "SELECT description FROM journal_entries WHERE payment_intent_id = :i AND reversal_of_id IS NOT NULL"),
            {"i": intent_id}).scalar_one()
    assert request_row == ("approved", marta.id, decision["motivo"])
    assert "luis" in description and "marta" in description
    assert obligations_state(demo.member_id) == before_obligations
    assert balances_of(demo.member_id) == before_balances and available(demo.member_id) == before_available
    assert_ledger_balanced()
    # Both actions audited with who, why and from where; both on the story.
    audited = actions_of(intent_id)
    assert ("luis", "reversal_requested", REASON, "127.0.0.1") in audited
    assert ("marta", "request_approved", decision["motivo"], "127.0.0.1") in audited
    page = c_ana.get(f"/operador/pagos/{intent_id}").get_data(as_text=True)
    assert REASON in page and decision["motivo"] in page and "Reversado" in page
    # Decided once: approving again is refused and changes nothing.
    after = counts()
    marta_again = c_marta.post(f"/operador/solicitudes/{request_id}/aprobar", decision)
    assert marta_again.status_code == 409 and counts() == after


def test_four_eyes_refund_to_savings_and_rejection(app: Flask, demo: Demo, applied: int) -> None:
    luis = make_operator("luis", "supervisor")
    marta = make_operator("marta", "supervisor")
    c_luis, c_marta = console(app).logged_in(luis), console(app).logged_in(marta)
    c_luis.get(f"/operador/pagos/{applied}")
    # First a request that is rejected: nothing moves.
    assert c_luis.post(f"/operador/pagos/{applied}/solicitar",
                       {"tipo": "refund_to_savings", "valor": "1,000.00", "motivo": REASON}).status_code == 303
    first = counts()
    with session_scope() as session:
        first_id = session.execute(text("SELECT max(id) FROM operator_requests")).scalar_one()
    assert c_marta.post(f"/operador/solicitudes/{first_id}/rechazar",
                        {"motivo": "No hay soporte del banco"}).status_code == 303
    assert counts()["entries"] == first["entries"]
    # Then one that is approved: Rentadiario is credited once.
    before = balances_of(demo.member_id)
    assert c_luis.post(f"/operador/pagos/{applied}/solicitar",
                       {"tipo": "refund_to_savings", "valor": "1500", "motivo": REASON}).status_code == 303
    with session_scope() as session:
        second_id = session.execute(text("SELECT max(id) FROM operator_requests")).scalar_one()
    assert c_marta.post(f"/operador/solicitudes/{second_id}/aprobar",
                        {"motivo": "Soporte del banco verificado"}).status_code == 303
    after = balances_of(demo.member_id)
    assert after[demo.rentadiario_id] - before[demo.rentadiario_id] == Decimal("1500.00")
    assert_ledger_balanced()
    kinds = [a[1] for a in actions_of(applied)]
    assert kinds == ["refund_requested", "request_rejected", "refund_requested", "request_approved"]


def test_a_refund_that_settles_a_review_item_resolves_it_with_the_approval(app: Flask, demo: Demo,
                                                                           applied: int) -> None:
    with session_scope() as session:
        item = ReviewItem(kind="approved_not_applied", payment_intent_id=applied, reason="Aprobado por PSE, no aplicado",
                          amount=Decimal("2000"))
        session.add(item)
        session.flush()
        item_id = item.id
    ana = make_operator("ana", "operador")
    marta = make_operator("marta", "supervisor")
    c_ana, c_marta = console(app).logged_in(ana), console(app).logged_in(marta)
    c_ana.get(f"/operador/pagos/{applied}")
    assert c_ana.post(f"/operador/pagos/{applied}/solicitar",
                      {"tipo": "refund_to_savings", "valor": "2000", "revision": str(item_id),
                       "motivo": REASON}).status_code == 303
    with session_scope() as session:
        assert session.execute(text("SELECT state FROM review_items WHERE id = :i"), {"i": item_id}).scalar_one() \
            == "open"
        request_id = session.execute(text("SELECT id FROM operator_requests")).scalar_one()
    before = balances_of(demo.member_id)
    assert c_marta.post(f"/operador/solicitudes/{request_id}/aprobar",
                        {"motivo": "Dinero recibido en el banco, se devuelve"}).status_code == 303
    assert balances_of(demo.member_id)[demo.rentadiario_id] - before[demo.rentadiario_id] == Decimal("2000.00")
    page = c_marta.get("/operador/revision?estado=resolved").get_data(as_text=True)
    assert f'data-item="{item_id}"' in page and "Dinero recibido en el banco, se devuelve" in page
    assert_ledger_balanced()


# ------------------------------------------------------------------ consultar ahora, re-drive, review

def test_query_now_enqueues_the_pse_query_after_auditing_it(app: Flask, demo: Demo) -> None:
    intent_id, tx_id = pse_pending_intent(demo)
    ana = make_operator("ana", "operador")
    c = console(app).logged_in(ana)
    c.get(f"/operador/pagos/{intent_id}")
    response = c.post(f"/operador/pagos/{intent_id}/consultar", {"motivo": "El asociado dice que ya pagó"})
    assert response.status_code == 303
    assert ("workers.pse_tasks.pse_query", [tx_id]) in [(t, a) for t, a in queued_tasks()]
    assert actions_of(intent_id) == [("ana", "pse_query_now", "El asociado dice que ya pagó", "127.0.0.1")]


def test_redrive_enqueues_the_current_step(app: Flask, demo: Demo, applied: int) -> None:
    waiting, _amount = one_intent(demo, demo.permanente_id)  # created, never enqueued
    ana = make_operator("ana", "operador")
    c = console(app).logged_in(ana)
    c.get(f"/operador/pagos/{waiting}")
    assert c.post(f"/operador/pagos/{waiting}/reimpulsar", {"motivo": "Sin avance tras la caída del worker"}
                  ).status_code == 303
    assert queued_tasks()[-1][1] == [waiting]
    assert actions_of(waiting)[0][1] == "step_redriven"
    # An applied payment has no step to re-drive.
    before = counts()
    response = c.post(f"/operador/pagos/{applied}/reimpulsar", {"motivo": "Sin avance tras la caída del worker"})
    assert response.status_code == 409 and "no tiene un paso pendiente" in response.get_data(as_text=True)
    assert counts() == before


def test_resolving_a_review_item_keeps_its_resolution(app: Flask, demo: Demo, applied: int) -> None:
    with session_scope() as session:
        item = ReviewItem(kind="redrives_exhausted", payment_intent_id=applied, reason="Reintentos agotados",
                          amount=Decimal("1000"))
        session.add(item)
        session.flush()
        item_id = item.id
    ana = make_operator("ana", "operador")
    c = console(app).logged_in(ana)
    c.get("/operador/revision")
    resolution = "Revisado: el pago sí se aplicó, sin acción adicional"
    assert c.post(f"/operador/revision/{item_id}/resolver", {"resolucion": resolution}).status_code == 303
    page = c.get("/operador/revision?estado=resolved").get_data(as_text=True)
    assert resolution in page and "ana" in page
    assert resolution in c.get(f"/operador/pagos/{applied}").get_data(as_text=True)
    before = counts()
    response = c.post(f"/operador/revision/{item_id}/resolver", {"resolucion": resolution})
    assert response.status_code == 409 and "ya está resuelto" in response.get_data(as_text=True)
    assert counts() == before


# ------------------------------------------------------------------ bad input on every form

def test_every_form_refuses_bad_input_in_spanish_and_changes_nothing(app: Flask, demo: Demo, applied: int) -> None:
    pse_intent, _tx = pse_pending_intent(demo)
    with session_scope() as session:
        item = ReviewItem(kind="redrives_exhausted", payment_intent_id=applied, reason="Reintentos agotados")
        session.add(item)
        session.flush()
        item_id = item.id
    ana = make_operator("ana", "operador")
    luis = make_operator("luis", "supervisor")
    marta = make_operator("marta", "supervisor")
    c_ana, c_marta = console(app).logged_in(ana), console(app).logged_in(marta)
    c_luis = console(app).logged_in(luis)
    c_luis.get(f"/operador/pagos/{applied}")
    assert c_luis.post(f"/operador/pagos/{applied}/solicitar", {"tipo": "reversal", "motivo": REASON}).status_code == 303
    with session_scope() as session:
        request_id = session.execute(text("SELECT id FROM operator_requests")).scalar_one()
    c_ana.get("/operador/")
    c_marta.get("/operador/")
    queue_before = len(queued_tasks())
    before = counts()
    short = {"motivo": "corto"}
    cases = [
        (c_ana, f"/operador/pagos/{pse_intent}/consultar", {}, 422, "Escriba el motivo"),
        (c_ana, f"/operador/pagos/{pse_intent}/consultar", short, 422, "al menos 10"),
        (c_ana, f"/operador/pagos/{pse_intent}/consultar", {"motivo": "x" * 1001}, 422, "no puede pasar"),
        (c_ana, f"/operador/pagos/{applied}/consultar", {"motivo": REASON}, 409, "no tiene transacción PSE"),
        (c_ana, "/operador/pagos/999999/consultar", {"motivo": REASON}, 404, "no existe"),
        (c_ana, "/operador/pagos/abc/consultar", {"motivo": REASON}, 404, "no válido"),
        (c_ana, f"/operador/pagos/{pse_intent}/reimpulsar", short, 422, "al menos 10"),
        (c_ana, "/operador/pagos/999999/reimpulsar", {"motivo": REASON}, 404, "no existe"),
        (c_ana, f"/operador/pagos/{applied}/solicitar", {"tipo": "borrar", "motivo": REASON}, 422, "no válido"),
        (c_ana, f"/operador/pagos/{applied}/solicitar", {"tipo": "reversal"}, 422, "Escriba el motivo"),
        (c_ana, f"/operador/pagos/{pse_intent}/solicitar", {"tipo": "reversal", "motivo": REASON}, 409,
         "pago aplicado"),
        (c_ana, f"/operador/pagos/{pse_intent}/solicitar",
         {"tipo": "refund_to_savings", "valor": "-5", "motivo": REASON}, 422, "valor en pesos"),
        (c_ana, f"/operador/pagos/{pse_intent}/solicitar",
         {"tipo": "refund_to_savings", "valor": "0", "motivo": REASON}, 422, "mayor que cero"),
        (c_ana, f"/operador/pagos/{pse_intent}/solicitar",
         {"tipo": "refund_to_savings", "valor": "999999999999", "motivo": REASON}, 422, "no puede superar"),
        (c_ana, f"/operador/pagos/{pse_intent}/solicitar",
         {"tipo": "refund_to_savings", "valor": "1000", "revision": str(item_id), "motivo": REASON}, 422,
         "no es un ítem abierto de este pago"),
        (c_ana, f"/operador/pagos/{pse_intent}/solicitar",
         {"tipo": "refund_to_savings", "valor": "1000", "revision": "x1", "motivo": REASON}, 422, "no es válido"),
        (c_ana, f"/operador/revision/{item_id}/resolver", {"resolucion": "ok"}, 422, "la resolución"),
        (c_ana, "/operador/revision/999999/resolver", {"resolucion": REASON}, 404, "no existe"),
        (c_marta, f"/operador/solicitudes/{request_id}/aprobar", short, 422, "al menos 10"),
        (c_marta, f"/operador/solicitudes/{request_id}/rechazar", {}, 422, "Escriba el motivo"),
        (c_marta, "/operador/solicitudes/999999/aprobar", {"motivo": REASON}, 404, "no existe"),
    ]
    for client, path, form, status, message in cases:
        response = client.post(path, form)
        page = response.get_data(as_text=True)
        assert response.status_code == status, (path, form, response.status_code, page[:400])
        assert message in page, (path, form, page[:600])
        assert "Nada se modificó" in page
    # A forged or missing CSRF token: refused on every form.
    for path in (f"/operador/pagos/{pse_intent}/consultar", f"/operador/pagos/{pse_intent}/reimpulsar",
                 f"/operador/pagos/{applied}/solicitar", f"/operador/revision/{item_id}/resolver",
                 f"/operador/solicitudes/{request_id}/aprobar", f"/operador/solicitudes/{request_id}/rechazar",
                 "/operador/salir"):
        response = c_marta.post(path, {"motivo": REASON, "resolucion": REASON, "tipo": "reversal"}, csrf="forged")
        assert response.status_code == 400 and "formulario expiró" in response.get_data(as_text=True), path
    # Non-numeric ids in the URL never reach a handler.
    assert c_ana.post("/operador/revision/abc/resolver", {"resolucion": REASON}).status_code == 404
    assert counts() == before
    assert len(queued_tasks()) == queue_before
    assert c_marta.get("/operador/").status_code == 200  # still logged in after all that


# ------------------------------------------------------------------ roles and races

def test_a_role_change_takes_effect_at_the_next_request(app: Flask, demo: Demo, applied: int) -> None:
    luis = make_operator("luis", "supervisor")
    marta = make_operator("marta", "supervisor")
    c_luis, c_marta = console(app).logged_in(luis), console(app).logged_in(marta)
    c_luis.get(f"/operador/pagos/{applied}")
    assert c_luis.post(f"/operador/pagos/{applied}/solicitar", {"tipo": "reversal", "motivo": REASON}).status_code == 303
    with session_scope() as session:
        request_id = session.execute(text("SELECT id FROM operator_requests")).scalar_one()
        session.execute(text("UPDATE operators SET role = 'operador' WHERE id = :id"), {"id": marta.id})
    before = counts()
    response = c_marta.post(f"/operador/solicitudes/{request_id}/aprobar", {"motivo": "Aprobado por la supervisora"})
    assert response.status_code == 403 and "Solo un supervisor" in response.get_data(as_text=True)
    assert counts() == before
    assert 'id="op-role">Operador<' in c_marta.get("/operador/").get_data(as_text=True)


def test_two_supervisors_approving_at_once_reverse_once(app: Flask, demo: Demo, applied: int) -> None:
    import threading

    ana = make_operator("ana", "operador")
    luis = make_operator("luis", "supervisor")
    marta = make_operator("marta", "supervisor")
    c_ana = console(app).logged_in(ana)
    c_luis, c_marta = console(app).logged_in(luis), console(app).logged_in(marta)
    c_ana.get(f"/operador/pagos/{applied}")
    assert c_ana.post(f"/operador/pagos/{applied}/solicitar", {"tipo": "reversal", "motivo": REASON}).status_code == 303
    with session_scope() as session:
        request_id = session.execute(text("SELECT id FROM operator_requests")).scalar_one()
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def approve(c) -> None:  # noqa: ANN001
        barrier.wait()
        statuses.append(c.post(f"/operador/solicitudes/{request_id}/aprobar",
                               {"motivo": "Aprobado tras verificar el extracto"}).status_code)

    threads = [threading.Thread(target=approve, args=(c,)) for c in (c_luis, c_marta)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(statuses) == [303, 409]
    with session_scope() as session:
        reversals = session.execute(text(
            "SELECT count(*) FROM journal_entries WHERE payment_intent_id = :i AND reversal_of_id IS NOT NULL"),
            {"i": applied}).scalar_one()
        approvals = session.execute(text("SELECT count(*) FROM operator_actions WHERE kind = 'request_approved'")
                                    ).scalar_one()
    assert reversals == 1 and approvals == 1
    assert_ledger_balanced()
