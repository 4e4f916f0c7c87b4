"""The PSE sandbox as a real process on a free port, and the real client pointed at it
(shared by the sandbox, payment and fault tests)."""
from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests

from integrations.pse.ach import AchPseProvider
from tests.processes import Proc, start, wait_http
from tests.support.ports import free_port
from zona_privada.settings import PseSettings, load_pse_settings

# Short figures so every behaviour happens in about a second; the client's read
# time-out (1 s) is shorter than the sandbox's held answers (2 s).
SANDBOX_ENV = {
    "ZONA_PSE_USERNAME": "zona-pruebas",
    "ZONA_PSE_PASSWORD": "clave-de-pruebas",
    "ZONA_PSE_WSSE_WINDOW_S": "120",
    "ZONA_PSE_SANDBOX_PENDING_S": "1",
    "ZONA_PSE_SANDBOX_LATE_S": "2.5",
    "ZONA_PSE_SANDBOX_SLOW_S": "0.3",
    "ZONA_PSE_SANDBOX_HANG_S": "2",
}
CLIENT_ENV = {
    **SANDBOX_ENV,
    "ZONA_PSE_CONNECT_TIMEOUT_S": "1",
    "ZONA_PSE_READ_TIMEOUT_S": "1",
    "ZONA_PSE_RETRY_ATTEMPTS": "3",
    "ZONA_PSE_RETRY_TOTAL_S": "10",
    "ZONA_PSE_RETRY_WAIT_INITIAL_S": "0.05",
    "ZONA_PSE_RETRY_WAIT_MAX_S": "0.2",
}


class Sandbox:
    def __init__(self, log_dir: Path, state_dir: Path, extra_env: dict[str, str] | None = None) -> None:
        self.extra_env = extra_env or {}
        self.log_dir = log_dir
        self.state_dir = state_dir
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.soap_url = f"{self.base}/PSEWebServices3/MainServices.asmx"
        self.proc: Proc | None = None

    def start(self) -> None:
        env = {**os.environ, **SANDBOX_ENV, **self.extra_env}
        self.proc = start("pse-sandbox", [sys.executable, "-m", "integrations.pse_sandbox", "--port", str(self.port),
                                          "--state-dir", str(self.state_dir)], env, self.log_dir)
        status = wait_http(f"{self.soap_url}?wsdl", timeout_s=30)
        assert status == 200, self.proc.log()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()
            self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def control(self, path: str, payload: dict[str, Any] | None = None) -> Any:
        url = f"{self.base}/_control/{path}"
        resp = requests.post(url, json=payload or {}, timeout=5) if payload is not None else requests.get(url, timeout=5)
        resp.raise_for_status()
        return resp.json()

    def creates_for(self, ticket_id: int) -> list[str]:
        return [row["outcome"] for row in self.control("creates") if row["ticket_id"] == ticket_id]

    def transaction_for(self, ticket_id: int) -> dict[str, Any] | None:
        return next((t for t in self.control("transactions") if t["ticket_id"] == ticket_id), None)

    def settings(self, **overrides: str) -> PseSettings:
        return load_pse_settings({**CLIENT_ENV, "ZONA_PSE_URL": self.soap_url, **overrides})

    def provider(self, **overrides: str) -> AchPseProvider:
        return AchPseProvider(self.settings(**overrides))


