"""Helpers for the outbox tests: payments applied by the real payment step, and a real
SMTP server in this process (the development sink's handler) that counts connections
and refuses one domain, the way a relay refuses a mailbox."""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from aiosmtpd.controller import Controller

from db.engine import session_scope
from db.payments.intents import create_intent
from db.payments.processing import Outcome, apply_intent
from zona_privada.smtp_sink import MaildirHandler, read_messages

REFUSED_DOMAIN = "rechazado.invalid"


@dataclass(frozen=True)
class Payer:
    member_id: int
    email: str
    rentadiario_id: int
    rentahorrito_id: int


def apply_transfers(payer: Payer, count: int, amount: Decimal = Decimal("1000")) -> list[int]:
    """`count` transfers Rentadiario → Rentahorrito, each applied by the real payment
    step, which writes its bare receipt to the outbox."""
    intent_ids = []
    for _ in range(count):
        with session_scope() as session:
            intent_id, _created = create_intent(
                session, member_id=payer.member_id, idempotency_key=os.urandom(16).hex(), kind="transfer",
                lines=[{"target_savings_account_id": payer.rentahorrito_id, "amount": amount}],
                funding=[{"savings_account_id": payer.rentadiario_id, "amount": amount}],
            )
        with session_scope() as session:
            assert apply_intent(session, intent_id).outcome is Outcome.APPLIED
        intent_ids.append(intent_id)
    return intent_ids


class CountingHandler(MaildirHandler):
    """The development sink, plus what a test must see: how many connections came in
    (smtplib says EHLO once per connection), and a relay's refusal of one domain."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.connections = 0
        self._count_lock = threading.Lock()

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: ANN001, ANN201, N802
        with self._count_lock:
            self.connections += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: ANN001, ANN201, N802
        if address.endswith(f"@{REFUSED_DOMAIN}"):
            return "550 5.1.1 Mailbox does not exist"
        envelope.rcpt_tos.append(address)
        return "250 OK"


@dataclass
class Sink:
    port: int
    folder: Path
    handler: CountingHandler | None = None
    controller: Controller | None = None

    def start(self) -> None:
        self.handler = CountingHandler(self.folder)
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def connections(self) -> int:
        return self.handler.connections if self.handler else 0

    def messages(self) -> list[dict[str, str]]:
        return read_messages(self.folder)
