"""Fixtures for the payment pages: the manual's demo members seeded afresh per test, the
app built from settings given as environment, Redis databases flushed, a real SMTP sink
for the one-time code, and a logged-in test client that posts forms as browsers do."""
from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.support.ports import free_port
from tests.integration.web_payments import pages
from tests.integration.web_payments.db_checks import flush_redis
from tests.integration.web_payments.pages import DEMO, OTHER



@dataclass(frozen=True)
class Ids:
    member_id: int
    rentadiario: int
    rentahorrito: int
    aportes: int
    permanente: int
    loan: int
    other_member_id: int
    other_account: int
    other_obligation: int


def _ids_of(db: Any, document: str) -> tuple[int, dict[str, int], dict[str, int]]:
    from db.models import Member, Obligation, SavingsAccount

    member_id = db.execute(select(Member.id).where(Member.document_number == document)).scalar_one()
    accounts = {a.product.value: a.id for a in db.execute(
        select(SavingsAccount).where(SavingsAccount.member_id == member_id)).scalars()}
    obligations = {o.kind.value: o.id for o in db.execute(
        select(Obligation).where(Obligation.member_id == member_id)).scalars()}
    return member_id, accounts, obligations


_SEEDED: dict[str, Any] = {}
# What a refused or merely written (never applied) payment leaves behind; deleted between
# tests so the seed can be reused. DELETE, not TRUNCATE: a TRUNCATE ... CASCADE of the
# intents would reach the (append-only) journal through its foreign key.
_SCRATCH = ("review_items", "pse_transactions", "allocations", "holds", "funding_attempts", "payment_intent_lines",
            "payment_intents", "notification_outbox", "audit_events")


def _ledger_mark(db: Any) -> tuple[int, int]:
    from sqlalchemy import text

    return tuple(db.execute(text("SELECT (SELECT count(*) FROM journal_entries), (SELECT count(*) FROM members)")).one())


def _seed_from_scratch() -> None:
    from sqlalchemy import text

    from db.engine import get_engine, session_scope
    from db.models import Base
    from db.seed import seed_demo_members

    names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with get_engine().begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    creds = {c["documento"]: c["clave"] for c in seed_demo_members(None)}
    with session_scope() as db:
        member_id, accounts, obligations = _ids_of(db, DEMO)
        other_id, other_accounts, other_obligations = _ids_of(db, OTHER)
        mark = _ledger_mark(db)
    ids = Ids(member_id, accounts["rentadiario"], accounts["rentahorrito"], obligations["aportes"],
              obligations["ahorro_permanente"], obligations["credito"], other_id, other_accounts["rentadiario"],
              other_obligations["aportes"])
    _SEEDED.update(creds=creds, ids=ids, mark=mark)


@pytest.fixture
def seeded(database_url: str, state_dir: Path) -> tuple[dict[str, str], Ids]:
    """The demo members as seeded; returns (document → password, ids). The seed is reused
    while no payment was applied since (the journal is as the seed left it); otherwise, or
    when another module emptied the tables, it is made again."""
    from sqlalchemy import text

    from db.engine import session_scope

    reuse = False
    if _SEEDED:
        with session_scope() as db:
            reuse = _ledger_mark(db) == _SEEDED["mark"] and db.execute(text(
                "SELECT count(*) FROM payment_intents WHERE state NOT IN ('created', 'rejected')")).scalar_one() == 0
            if reuse:
                for table in _SCRATCH:
                    db.execute(text(f"DELETE FROM {table}"))
    if not reuse:
        _seed_from_scratch()
    return dict(_SEEDED["creds"]), _SEEDED["ids"]


@pytest.fixture(scope="session")
def smtp_sink(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from aiosmtpd.controller import Controller

    from zona_privada.smtp_sink import MaildirHandler

    folder = tmp_path_factory.mktemp("pay-mail")
    port = free_port()
    controller = Controller(MaildirHandler(folder), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield {"folder": folder, "port": port}
    finally:
        controller.stop()


@pytest.fixture
def make_app(seeded: tuple[dict[str, str], Ids], smtp_sink: dict[str, Any], monkeypatch: pytest.MonkeyPatch
             ) -> Iterator[Callable[..., Any]]:
    """Build the app with settings from the environment plus `env` overrides. A message the
    web enqueues is sent at once in this process through the real task, the outbox and
    the real SMTP sink (the broker hop is the e2e test's)."""
    from zona_privada.settings import reset_settings_cache

    for path in smtp_sink["folder"].glob("*"):
        path.unlink()

    def factory(**env: Any) -> Any:
        monkeypatch.setenv("ZONA_SMTP_PORT", str(smtp_sink["port"]))
        for name, value in env.items():
            monkeypatch.setenv(name, str(value))
        reset_settings_cache()
        flush_redis()
        import workers.notification_tasks as tasks

        def send_now(message_id: int, *, code_ref: str | None = None, audit_member_id: int | None = None) -> None:
            tasks.send_outbox_message.apply(args=[message_id],
                                            kwargs={"code_ref": code_ref, "audit_member_id": audit_member_id})

        def issue_now(document_type: str, document_number: str, channel: str) -> None:
            tasks.issue_temp_key.apply(args=[document_type, document_number, channel])

        monkeypatch.setattr(tasks, "enqueue_send", send_now)
        monkeypatch.setattr(tasks, "enqueue_temp_key", issue_now)
        from webapp import create_app

        return create_app()

    yield factory
    reset_settings_cache()


class Member:
    """A logged-in test client; posts bodies encoded as a browser encodes them."""

    def __init__(self, app: Any, creds: dict[str, str], ids: Ids) -> None:
        self.client = app.test_client()
        self.ids = ids
        pages.login(self.get, self.post, DEMO, creds[DEMO])

    def get(self, path: str, **kw: Any) -> Any:
        return self.client.get(path, **kw)

    def post(self, path: str, pairs: list[tuple[str, str]], **kw: Any) -> Any:
        body = urllib.parse.urlencode(pairs, safe="*")
        return self.client.post(path, data=body, content_type="application/x-www-form-urlencoded", **kw)

    def csrf(self) -> str:
        return pages.csrf(self.get)

    def verification(self, **kw: Any) -> str:
        return pages.walk_to_verification(self.get, self.post, **kw)

    def two_next_items(self) -> str:
        """The manual's payment: aportes' and the loan's next installments from Rentadiario."""
        return self.verification(obligations=[("cuota", str(self.ids.aportes)), ("cuota", str(self.ids.loan))],
                                 funding=[("forma", "debito"), ("cuenta", str(self.ids.rentadiario))])


@pytest.fixture
def member(make_app: Callable[..., Any], seeded: tuple[dict[str, str], Ids]) -> Callable[..., Member]:
    """`member(**env)`: the demo member logged in on an app built with `env`."""
    creds, ids = seeded
    return lambda **env: Member(make_app(**env), creds, ids)
