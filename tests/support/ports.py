"""Ports for the tests: a free one per server a test starts, and a trap on every port the
settings would otherwise default to.

The suite once sent 28 receipt e-mails to a developer's running `zona up` (SMTP on its
default port 8025): a test had started a beat without choosing its own SMTP port. Every
port setting of the test process (and so of every child it starts) now points at a
listener of ours that records who connected; the session fails if anything did. A test
that needs a server chooses its own port (`free_port()`), as the README promises.
"""
from __future__ import annotations

import os
import socket
import threading
from dataclasses import dataclass, field

# Every setting whose default is a fixed local port (zona_privada/settings.py).
PORT_SETTINGS = ("ZONA_WEB_PORT", "ZONA_FLOWER_PORT", "ZONA_SMTP_PORT", "ZONA_SMS_PORT", "ZONA_PSE_PORT")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class PortTrap:
    """Listens on one port per setting; every connection accepted is recorded."""

    ports: dict[str, int] = field(default_factory=dict)
    hits: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> PortTrap:
        for name in PORT_SETTINGS:
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sock.listen(64)
            self.ports[name] = sock.getsockname()[1]
            threading.Thread(target=self._accept, args=(name, sock), daemon=True,
                             name=f"port-trap-{name}").start()
        return self

    def _accept(self, name: str, sock: socket.socket) -> None:
        while True:
            conn, _addr = sock.accept()
            with self._lock:
                self.hits.append(f"{name} (trap port {self.ports[name]})")
            conn.close()

    def point_environment_here(self) -> None:
        for name, port in self.ports.items():
            os.environ[name] = str(port)
        # The SMS gateway is a URL setting; without one the code uses the outbox only.
        os.environ.pop("ZONA_SMS_GATEWAY_URL", None)

    def take_hits(self) -> list[str]:
        with self._lock:
            hits, self.hits = self.hits, []
        return hits


_TRAP: PortTrap | None = None


def trap() -> PortTrap:
    """The one trap of this test process (conftest is imported twice; this module once)."""
    global _TRAP
    if _TRAP is None:
        _TRAP = PortTrap().start()
        _TRAP.point_environment_here()
    return _TRAP
