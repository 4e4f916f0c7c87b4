"""ZONA_FAULT parsing, inertness, and what the kill takes down."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from workers import faults
from zona_privada.settings import ConfigError


def test_parse() -> None:
    assert faults.parse_fault(None) is None and faults.parse_fault("") is None
    assert faults.parse_fault("apply:before_commit") == ("apply", "before_commit")
    for bad in ("apply", "apply:", "nope:before_commit", "apply:sometime", "apply-before_commit"):
        with pytest.raises(ConfigError):
            faults.parse_fault(bad)


def test_inert_unless_set(monkeypatch) -> None:  # noqa: ANN001
    calls = []
    monkeypatch.setattr(faults, "kill_worker", lambda: calls.append(1))
    monkeypatch.setattr(faults, "get_settings", lambda: type("S", (), {"fault": None})())
    for step in faults.STEPS:
        for point in faults.POINTS:
            faults.fault_point(step, point)
    assert calls == []
    monkeypatch.setattr(faults, "get_settings", lambda: type("S", (), {"fault": "apply:after_commit"})())
    faults.fault_point("apply", "before_commit")
    faults.fault_point("reconcile", "after_commit")
    assert calls == []
    faults.fault_point("apply", "after_commit")
    assert calls == [1]


def test_a_pool_child_kills_the_main_worker_too(monkeypatch) -> None:  # noqa: ANN001
    killed: list[tuple[str, int]] = []
    monkeypatch.setattr(faults, "_is_pool_child", lambda: True)
    monkeypatch.setattr(os, "getpgid", lambda _pid: -1)  # not the group leader: no killpg
    faults.kill_worker(kill=lambda pid, sig: killed.append(("kill", pid)), killpg=lambda *a: killed.append(("pg", 0)))
    assert killed == [("kill", os.getppid()), ("kill", os.getpid())]


def test_the_process_really_dies_by_sigkill(tmp_path) -> None:  # noqa: ANN001
    env = dict(os.environ, ZONA_FAULT="settle:task_start", DATABASE_URL="postgresql://x@127.0.0.1/none",
               REDIS_URL="redis://127.0.0.1:6379/0", ZONA_STATE_DIR=str(tmp_path))
    code = "from workers.faults import fault_point; fault_point('settle', 'before_commit'); " \
           "print('survived'); fault_point('settle', 'task_start'); print('not reached')"
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == -signal.SIGKILL
    assert "survived" in result.stdout and "not reached" not in result.stdout
