"""Scale-out on Celery (issue 12): two worker "hosts", each in its own network namespace
reaching PostgreSQL, Redis and the PSE sandbox over a veth pair, share one mixed load of
savings and PSE payments; one host is SIGKILLed whole midway. Every payment is applied
exactly once by whichever host is left, each PSE ticket was created once at the sandbox,
and the ledger balances. Adding hosts changes nothing but speed.

Where namespaces cannot be made the two hosts are plain process groups on this machine,
and the test says so (the claim about separate network stacks is then not proven)."""
from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text

from db.engine import session_scope
from db.payments.intents import PseContext, create_intent
from db.seed import bogota_today
from tests.processes import Proc, start, start_beat, wait_for, BIN
from tests.support.netns import Host, NamespacesUnavailable, kill_namespace, make_hosts, process_group_hosts, remove_hosts
from tests.support.payments import Demo, assert_applied_exactly_once, assert_ledger_balanced, balances_of, new_key
from tests.support.ports import free_port
from tests.support.pse import CLIENT_ENV, Sandbox
from workers import pse_tasks
from workers.payment_tasks import enqueue_intent
from zona_privada.settings import get_settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SAVINGS_PAYMENTS = 60
PSE_PAYMENTS = 30
APPROVE_AT_ONCE = "9101"
SUBMIT_SPREAD_S = 8.0
BUDGET_S = 60.0
STEP_DEADLINE_S = 2
# The creator (the web, here the test) sets each intent's first deadline: the same
# time-scaled figure the workers and the reconciler use.
CREATOR = dataclasses.replace(get_settings(), intent_step_deadline_s=STEP_DEADLINE_S)


@pytest.fixture()
def hosts() -> Iterator[list[Host]]:
    try:
        made = make_hosts(2)
    except NamespacesUnavailable as exc:
        # The fallback keeps the exactly-once proof; only the separate network stacks are lost.
        warnings.warn(f"network namespaces cannot be made here ({exc}): the two worker hosts run as "
                      "plain process groups on this machine", stacklevel=1)
        print(f"\nSKIPPED namespaces: {exc}; hosts are process groups")
        made = process_group_hosts(2)
    yield made
    remove_hosts(made)


@pytest.fixture()
def sandbox(tmp_path: Path, demo: Demo) -> Iterator[Sandbox]:
    box = Sandbox(tmp_path / "sandbox-logs", tmp_path / "sandbox-state")
    box.start()
    assert pse_tasks.refresh_bank_list(box.provider(), box.settings(), force=True)
    yield box
    box.stop()


def host_env(host: Host, subprocess_env: dict[str, str], sandbox: Sandbox) -> dict[str, str]:
    env = {**subprocess_env, **CLIENT_ENV}
    env.update(
        DATABASE_URL=host.url(subprocess_env["DATABASE_URL"]),
        REDIS_URL=host.url(subprocess_env["REDIS_URL"]),
        ZONA_PSE_URL=host.url(sandbox.soap_url),
        # Time-scaled cadences: a killed host's unacknowledged work is re-driven in seconds.
        ZONA_INTENT_STEP_DEADLINE_S=str(STEP_DEADLINE_S), ZONA_RECONCILER_PERIOD_S="0.5", ZONA_PSE_POLL_PERIOD_S="0.5",
        ZONA_PSE_QUERY_PHASES="1:600", ZONA_PSE_SEND_TIMEOUT_S="5", ZONA_SMTP_PORT=str(free_port()),
    )
    return env


def start_host_worker(host: Host, env: dict[str, str], log_dir: Path) -> Proc:
    argv = [str(BIN / "celery"), "-A", "workers.celery_app:app", "worker", "--loglevel", "INFO",
            "--pool", "prefork", "--concurrency", "2", "--hostname", f"{host.name}-{time.time_ns()}@%h",
            "--without-gossip", "--without-mingle", "--queues", "celery,pse"]
    return start(host.name, host.command(argv), env, log_dir)


def submit(demo: Demo, index: int) -> tuple[int, str, Decimal]:
    """A transfer into the member's Rentadiario: from Rentahorrito, or by PSE (bank approving at once)."""
    amount = Decimal(1000 + index)
    via_pse = index % 3 == 2
    funding: list[dict[str, object]] = (
        [{"pse": True, "amount": amount, "bank_code": APPROVE_AT_ONCE, "user_type": 0}] if via_pse
        else [{"savings_account_id": demo.rentahorrito_id, "amount": amount}])
    with session_scope() as session:
        created = create_intent(
            session, member_id=demo.member_id, idempotency_key=new_key(), kind="transfer", settings=CREATOR,
            lines=[{"target_savings_account_id": demo.rentadiario_id, "amount": amount}], funding=funding,
            pse=PseContext("203.0.113.9", "http://zona.test/zona/pagos/pse/retorno?ticket=") if via_pse else None)
    enqueue_intent(created.intent_id)
    return created.intent_id, "pse" if via_pse else "savings", amount


def succeeded(proc: Proc) -> int:
    return proc.log_path.read_text(errors="replace").count(" succeeded in ")


def test_two_worker_hosts_share_the_load_and_one_dies_midway(
        demo: Demo, hosts: list[Host], sandbox: Sandbox, subprocess_env: dict[str, str], tmp_path: Path) -> None:
    before = balances_of(demo.member_id)
    host_a, host_b = hosts
    envs = {h.name: host_env(h, subprocess_env, sandbox) for h in hosts}
    logs = tmp_path / "logs"
    workers = {h.name: start_host_worker(h, envs[h.name], logs) for h in hosts}
    beat = start_beat(envs[host_a.name], logs)  # beat, like the workers, reaches the services through host a
    try:
        for proc in workers.values():
            assert wait_for(lambda p=proc: "ready." in p.log(), 30), proc.log()
        total = SAVINGS_PAYMENTS + PSE_PAYMENTS
        submitted: dict[int, tuple[str, Decimal]] = {}
        started = time.monotonic()
        killed_at: float | None = None
        b_before_kill = 0
        for i in range(total):
            time.sleep(max(0.0, started + i * SUBMIT_SPREAD_S / total - time.monotonic()))
            intent_id, kind, amount = submit(demo, i)
            submitted[intent_id] = (kind, amount)
            if i == total // 2:
                b_before_kill = succeeded(workers[host_b.name])
                # The whole host at once (its prefork children and its broker connections).
                kill_namespace(host_b) if host_b.namespace else workers[host_b.name].stop(9)
                killed_at = time.monotonic()
        ids = sorted(submitted)

        def all_applied() -> bool:
            with session_scope() as session:
                return session.execute(text("SELECT count(*) FROM payment_intents WHERE id = ANY(:ids) "
                                            "AND state = 'applied'"), {"ids": ids}).scalar_one() == len(ids)

        def settled() -> bool:
            # Applied, or waiting on a create whose answer died with host b: such a create
            # is never sent again (DESIGN §5); the day's conciliation file resolves it.
            return all_applied() or not [i for i, _ in _states(ids) if i not in _unknown_creates(ids)]

        assert wait_for(settled, BUDGET_S, 0.5), (_states(ids), _unknown_creates(ids))
        unknown = _unknown_creates(ids)
        if unknown:
            pse_tasks.conciliate_day(bogota_today(), final=False, provider=sandbox.provider())
        assert wait_for(all_applied, BUDGET_S / 2, 0.5), (_states(ids), _unknown_creates(ids))
        finished = time.monotonic() - started
        a_done, b_done = succeeded(workers[host_a.name]), succeeded(workers[host_b.name])
    finally:
        beat.stop()
        for proc in workers.values():
            proc.stop()

    with session_scope() as session:
        latency = sorted(float(s) for s in session.execute(text(
            "SELECT extract(epoch FROM applied_at - created_at) FROM payment_intents WHERE id = ANY(:ids)"),
            {"ids": ids}).scalars())
    assert not workers[host_b.name].alive()
    assert_applied_exactly_once(ids)
    assert_ledger_balanced()
    # Each PSE ticket reached the sandbox once, whichever host sent it.
    creates = sandbox.control("creates")
    tickets = [row["ticket_id"] for row in creates if row["outcome"] != "duplicate"]
    assert len(tickets) == len(set(tickets)) == sum(1 for k, _ in submitted.values() if k == "pse")
    assert not [row for row in creates if row["outcome"] == "duplicate"]
    # The money: every transfer landed once in Rentadiario; Rentahorrito paid the savings ones.
    after = balances_of(demo.member_id)
    moved = {kind: sum((a for k, a in submitted.values() if k == kind), Decimal(0)) for kind in ("pse", "savings")}
    assert after[demo.rentadiario_id] - before[demo.rentadiario_id] == moved["pse"] + moved["savings"]
    assert before[demo.rentahorrito_id] - after[demo.rentahorrito_id] == moved["savings"]
    # Both hosts worked before the kill; the survivor finished the rest.
    assert b_before_kill > 0 and a_done > 0, (a_done, b_before_kill)
    print(f"\nscale-out: {len(ids)} payments ({moved['savings']} savings + {moved['pse']} PSE pesos), hosts "
          f"{'network namespaces' if host_a.namespace else 'process groups'}; host-a tasks {a_done}, host-b tasks "
          f"{b_done} (SIGKILLed after {killed_at and killed_at - started:.1f} s); all applied once in {finished:.1f} s "
          f"(submit to applied p50 {latency[len(latency) // 2]:.2f} s, max {latency[-1]:.2f} s); "
          f"{len(tickets)} PSE creates, none twice, {len(unknown)} lost with host b resolved by conciliation; "
          "ledger balanced")


def _unknown_creates(ids: list[int]) -> set[int]:
    with session_scope() as session:
        return set(session.execute(text(
            "SELECT f.intent_id FROM pse_transactions t JOIN funding_attempts f ON f.id = t.attempt_id "
            "WHERE f.intent_id = ANY(:ids) AND t.state = 'UNKNOWN'"), {"ids": ids}).scalars())


def _states(ids: list[int]) -> list[tuple[int, str]]:
    with session_scope() as session:
        return [tuple(r) for r in session.execute(text(
            "SELECT id, state FROM payment_intents WHERE id = ANY(:ids) AND state <> 'applied' ORDER BY id"),
            {"ids": ids}).all()]
