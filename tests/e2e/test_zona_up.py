"""`./zona up` on the embedded path, as a newcomer runs it: private PostgreSQL and
Redis under a state folder, /healthz green, Ctrl-C leaves nothing behind, a second
start keeps the data. And bad configuration gets one line, not a traceback."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
from pathlib import Path

import psycopg
import pytest

from tests.support import ROOT
from tests.support.ports import free_port
from tests.processes import wait_for, wait_http

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def processes_mentioning(text: str) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline and "pytest" not in cmdline:
            found.append(f"{proc.name}: {cmdline[:200]}")
    return found


def up_env(state: Path, ports: dict[str, int]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "ZONA_STATE_DIR", "ZONA_ENV")}
    env.update({"ZONA_EMBEDDED": "1", "ZONA_STATE_DIR": str(state), "ZONA_WEB_WORKERS": "1",
                "ZONA_WORKER_CONCURRENCY": "1", "ZONA_REDIS_DB_BASE": "0"})
    env.update({name: str(port) for name, port in ports.items()})
    return env


def start_up(env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(["./zona", "up"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def stop_with_ctrl_c(proc: subprocess.Popen, log: Path) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"zona up did not stop on SIGINT:\n{log.read_text()[-3000:]}")


def test_embedded_up_stop_and_restart_keeps_data(tmp_path: Path) -> None:
    state = tmp_path / "st"
    ports = {"ZONA_WEB_PORT": free_port(), "ZONA_FLOWER_PORT": free_port(), "ZONA_SMTP_PORT": free_port(),
             "ZONA_SMS_PORT": free_port(), "ZONA_PSE_PORT": free_port()}
    env = up_env(state, ports)
    log = tmp_path / "up.log"
    web = f"http://127.0.0.1:{ports['ZONA_WEB_PORT']}"

    proc = start_up(env, log)
    try:
        assert wait_http(f"{web}/healthz", 180) == 200, log.read_text()[-4000:]
        assert wait_for(lambda: "Press Ctrl-C" in log.read_text(), 30), log.read_text()[-3000:]
        banner = log.read_text()
        assert "1077227777" in banner and f"{web}/" in banner and "Flower" in banner
        # The PSE sandbox runs too, on its own port (issue 10).
        assert wait_http(f"http://127.0.0.1:{ports['ZONA_PSE_PORT']}/PSEWebServices3/MainServices.asmx?wsdl", 30) == 200
        creds = json.loads((state / "demo_credentials.json").read_text())
        # ... and PSE's bank list is fetched from it at start, over SOAP, into the database.
        def banks() -> int:
            with psycopg.connect(f"postgresql://postgres@/zona?host={state / 'pg'}") as conn:
                return conn.execute("SELECT count(*) FROM pse_banks").fetchone()[0]
        assert wait_for(lambda: banks() > 0, 60), (state / "logs" / "pse-banks.log").read_text()[-2000:]
        # Leave a mark in the embedded database through its unix socket.
        with psycopg.connect(f"postgresql://postgres@/zona?host={state / 'pg'}") as conn:
            conn.execute("INSERT INTO paying_entities (code, name, deduction_factor) VALUES ('999', 'MARCA DE PRUEBA', 0.5)")
    finally:
        stop_with_ctrl_c(proc, log)
    assert proc.returncode == 0, log.read_text()[-3000:]
    assert wait_for(lambda: not processes_mentioning(str(state)), 15), processes_mentioning(str(state))
    assert "[zona] stopped" in log.read_text()

    proc = start_up(env, log)
    try:
        assert wait_http(f"{web}/healthz", 180) == 200, log.read_text()[-4000:]
        with psycopg.connect(f"postgresql://postgres@/zona?host={state / 'pg'}") as conn:
            assert conn.execute("SELECT name FROM paying_entities WHERE code = '999'").fetchone() == ("MARCA DE PRUEBA",)
            assert conn.execute("SELECT count(*) FROM members").fetchone() == (2,)
        assert json.loads((state / "demo_credentials.json").read_text()) == creds  # not re-seeded
    finally:
        stop_with_ctrl_c(proc, log)
    assert wait_for(lambda: not processes_mentioning(str(state)), 15), processes_mentioning(str(state))


def run_zona(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(["./zona", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_unreachable_database_is_one_line(tmp_path: Path) -> None:
    env = up_env(tmp_path / "st", {"ZONA_WEB_PORT": free_port(), "ZONA_FLOWER_PORT": free_port(),
                                   "ZONA_SMTP_PORT": free_port(), "ZONA_SMS_PORT": free_port(),
                                   "ZONA_PSE_PORT": free_port()})
    env.pop("ZONA_EMBEDDED")
    env["DATABASE_URL"] = f"postgresql://postgres@127.0.0.1:{free_port()}/nada"
    env["REDIS_URL"] = "redis://127.0.0.1:6379/0"
    result = run_zona(["up"], env)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("zona:")]
    assert len(lines) == 1 and "cannot reach PostgreSQL" in lines[0], result.stderr


def test_port_in_use_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = up_env(tmp_path / "st", {"ZONA_WEB_PORT": port, "ZONA_FLOWER_PORT": free_port(),
                                       "ZONA_SMTP_PORT": free_port(), "ZONA_SMS_PORT": free_port(),
                                       "ZONA_PSE_PORT": free_port()})
        result = run_zona(["up"], env)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"port 127.0.0.1:{port}" in result.stderr and "ZONA_WEB_PORT" in result.stderr


def test_unreachable_database_for_migrate_is_one_line(tmp_path: Path) -> None:
    env = dict(os.environ, DATABASE_URL=f"postgresql://postgres@127.0.0.1:{free_port()}/nada",
               ZONA_STATE_DIR=str(tmp_path))
    result = run_zona(["migrate"], env)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0 and "cannot reach the database" in result.stderr
