"""/metrics (issue 12): the web under gunicorn and a REAL Celery worker process share a
multiprocess folder; the test drives payments, a reconciler re-drive and a broken promise
through the broker and reads /metrics with prometheus-client's own parser."""
from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from db.engine import session_scope
from db.payments.intents import create_intent
from tests.processes import start_web, start_worker, wait_for, wait_http
from tests.support.payments import new_key
from tests.support.ports import free_port
from zona_privada.metrics import prepare_multiproc_dir

pytestmark = [pytest.mark.integration, pytest.mark.slow]

OPERATORS = "turno.noche@coop.test, jefe.operaciones@coop.test"


def scrape(port: int, token: str | None = None) -> dict[tuple[str, tuple], float]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/metrics")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.headers["Content-Type"].startswith("text/plain")
        body = resp.read().decode()
    samples: dict[tuple[str, tuple], float] = {}
    for family in text_string_to_metric_families(body):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def intent(demo, obligation_id: int) -> int:  # noqa: ANN001
    from db.member_summary import obligations_overview
    from db.seed import bogota_today

    with session_scope() as session:
        items = {o.obligation_id: o.next_installment
                 for o in obligations_overview(session, demo.member_id, bogota_today())}
        return create_intent(session, member_id=demo.member_id, idempotency_key=new_key(), kind="payment",
                             lines=[{"obligation_id": obligation_id, "amount": items[obligation_id]}],
                             funding=[{"savings_account_id": demo.rentadiario_id,
                                       "amount": items[obligation_id]}]).intent_id


def state_of(intent_id: int) -> str:
    with session_scope() as session:
        return session.execute(text("SELECT state FROM payment_intents WHERE id = :i"), {"i": intent_id}).scalar_one()


def test_metrics_count_what_a_real_worker_does(demo, redis_client, subprocess_env, tmp_path: Path) -> None:  # noqa: ANN001
    from workers.payment_tasks import enqueue_intent, reconcile_payments

    env = {**subprocess_env, "PROMETHEUS_MULTIPROC_DIR": prepare_multiproc_dir(tmp_path / "metrics"),
           "ZONA_OPERATOR_EMAILS": OPERATORS}
    env.pop("ZONA_METRICS_TOKEN", None)
    port = free_port()
    web = start_web(env, tmp_path, port, workers=2, threads=2)
    worker = start_worker(env, tmp_path, concurrency=2)
    try:
        assert wait_http(f"http://127.0.0.1:{port}/metrics", 30) == 200, web.log()
        before = scrape(port)
        assert value(before, "zona_metrics_source_up", source="postgresql") == 1
        assert value(before, "zona_metrics_source_up", source="redis") == 1
        assert ("zona_celery_queue_depth", (("queue", "celery"),)) in before
        applied_before = value(before, "zona_payment_intents", state="applied")

        # Two payments through the broker and the real worker.
        paid = [intent(demo, demo.aportes_id), intent(demo, demo.permanente_id)]
        for intent_id in paid:
            enqueue_intent(intent_id)
        assert wait_for(lambda: all(state_of(i) == "applied" for i in paid), 60), worker.log()

        # One whose message was lost: the reconciler (run by the worker) re-drives it.
        lost = intent(demo, demo.loan_id)
        with session_scope() as session:
            session.execute(text("UPDATE payment_intents SET step_deadline_at = now() - interval '1 minute'"
                                 " WHERE id = :i"), {"i": lost})
            # One unfinished past the half-hour promise, not yet due for a re-drive: alerted.
            member = session.execute(text("SELECT id FROM members WHERE id <> :m ORDER BY id LIMIT 1"),
                                     {"m": demo.member_id}).scalar_one()
            late = session.execute(text("""
                INSERT INTO payment_intents (member_id, kind, state, idempotency_key, request_hash, total_amount,
                                             created_at, step_deadline_at)
                VALUES (:m, 'payment', 'created', :k, :k, 1000, now() - interval '1 hour', now() + interval '1 hour')
                RETURNING id"""), {"m": member, "k": new_key()}).scalar_one()

        def alerts_logged() -> int:
            return sum("payment_promise_breached" in line
                       for line in worker.log_path.read_text(errors="replace").splitlines())

        for run in (1, 2):  # twice: the breach is counted and e-mailed once
            reconcile_payments.delay()
            assert wait_for(lambda: alerts_logged() >= run, 60), worker.log()
        assert wait_for(lambda: state_of(lost) == "applied", 60), worker.log()

        after = scrape(port)
        assert value(after, "zona_payment_submit_to_applied_seconds_count") - value(
            before, "zona_payment_submit_to_applied_seconds_count") == 3
        assert value(after, "zona_payment_submit_to_applied_seconds_bucket", le="+Inf") == value(
            after, "zona_payment_submit_to_applied_seconds_count")
        assert value(after, "zona_payment_intents", state="applied") - applied_before == 3
        assert value(after, "zona_payment_intents", state="created") == 1  # the late one
        assert value(after, "zona_reconciler_redrives_total", step="apply") == 1
        assert value(after, "zona_payment_promise_breaches_total") == 1
        with session_scope() as session:
            mails = session.execute(text(
                "SELECT recipient, subject FROM notification_outbox WHERE dedupe_key LIKE 'promise-breach:%'"
                " ORDER BY recipient")).all()
        assert [m.recipient for m in mails] == ["jefe.operaciones@coop.test", "turno.noche@coop.test"]
        assert all(f"No. {late}" in m.subject and "30 minutos" in m.subject for m in mails)
        with session_scope() as session:
            marks = session.execute(text(
                "SELECT payment_intent_id FROM audit_events WHERE kind = 'payment_promise_breached'")).scalars().all()
        assert marks == [late]
    finally:
        worker.stop()
        web.stop()


def test_metrics_are_refused_off_loopback_and_need_the_token_when_set(clean_db, monkeypatch) -> None:  # noqa: ANN001
    from webapp import create_app
    from zona_privada.settings import get_settings

    get_settings.cache_clear()
    client = create_app({"TESTING": True}).test_client()
    assert client.get("/metrics").status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"}).status_code == 403
    relayed = client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert relayed.status_code == 403 and "no permitido" in relayed.get_data(as_text=True)

    monkeypatch.setenv("ZONA_METRICS_TOKEN", "s3cr3t-token")
    get_settings.cache_clear()
    try:
        client = create_app({"TESTING": True}).test_client()
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        ok = client.get("/metrics", headers={"Authorization": "Bearer s3cr3t-token"},
                        environ_base={"REMOTE_ADDR": "198.51.100.4"})
        assert ok.status_code == 200
        names = {f.name for f in text_string_to_metric_families(ok.get_data(as_text=True))}
        assert {"zona_payment_intents", "zona_review_items_open", "zona_celery_queue_depth",
                "zona_metrics_source_up"} <= names
    finally:
        monkeypatch.delenv("ZONA_METRICS_TOKEN")
        get_settings.cache_clear()


def test_pse_calls_are_counted_by_operation_and_outcome(clean_db, tmp_path: Path) -> None:  # noqa: ANN001
    from prometheus_client import REGISTRY

    from integrations.pse.ach import AchPseProvider
    from tests.support.pse import Sandbox
    from workers import pse_tasks

    def count(outcome: str) -> float:
        return REGISTRY.get_sample_value("zona_pse_calls_total",
                                         {"operation": "getBankList", "outcome": outcome}) or 0.0

    box = Sandbox(tmp_path / "logs", tmp_path / "state")
    box.start()
    try:
        ok_before = count("ok")
        assert pse_tasks.refresh_bank_list(box.provider(), box.settings(), force=True)
        assert count("ok") - ok_before == 1
        down = box.settings(ZONA_PSE_URL=f"http://127.0.0.1:{free_port()}/PSEWebServices3/MainServices.asmx")
        failed_before = {o: count(o) for o in ("PseUnavailable", "PseOutcomeUnknown")}
        # Nobody listens there: the call fails (after the client's bounded retries), counted once.
        assert pse_tasks.refresh_bank_list(AchPseProvider(down), down, force=True) is None
        assert sum(count(o) - n for o, n in failed_before.items()) == 1
    finally:
        box.stop()
