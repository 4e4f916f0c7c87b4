"""Start real processes for tests: a Celery worker, celery beat, the web under gunicorn.

Each returns a handle whose `stop()` kills the whole process group, so a failed test
leaves nothing running. Output goes to a log file the failure message points at.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:] if self.log_path.exists() else ""

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 10) -> None:
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, sig)
                self.popen.wait(timeout_s)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.popen.wait()


def start(name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> Proc:
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}-{time.time_ns()}.log"
    with open(log_path, "wb") as log:
        popen = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    return Proc(name, popen, log_path)


def start_worker(env: dict[str, str], log_dir: Path, *, concurrency: int = 2, name: str = "worker",
                 queues: str | None = None, pool: str = "prefork") -> Proc:
    argv = [str(BIN / "celery"), "-A", "workers.celery_app:app", "worker", "--loglevel", "INFO",
            "--pool", pool, "--concurrency", str(concurrency),
            "--hostname", f"{name}-{os.getpid()}-{time.time_ns()}@%h", "--without-gossip", "--without-mingle"]
    # By default one worker does everything, the PSE queue included (zona up runs a
    # second worker for it; see workers/celery_app.py).
    argv += ["--queues", queues or "celery,pse"]
    return start(name, argv, env, log_dir)


def start_beat(env: dict[str, str], log_dir: Path) -> Proc:
    schedule = log_dir / f"beat-schedule-{time.time_ns()}"
    return start("beat", [str(BIN / "celery"), "-A", "workers.celery_app:app", "beat", "--loglevel", "INFO",
                          "--schedule", str(schedule)], env, log_dir)


def start_web(env: dict[str, str], log_dir: Path, port: int, *, workers: int = 2, threads: int = 4) -> Proc:
    argv = [str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--threads",
            str(threads), "--graceful-timeout", "3", "webapp:create_app()"]
    return start("web", argv, env, log_dir)


def wait_http(url: str, timeout_s: float = 30, expect: int | None = 200) -> int:
    deadline = time.monotonic() + timeout_s
    status = -1
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=3) as resp:
                status = resp.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except (urllib.error.URLError, OSError):
            status = -1
        if status == expect or (expect is None and status > 0):
            return status
        time.sleep(0.25)
    return status


def wait_for(predicate, timeout_s: float, interval_s: float = 0.1):  # noqa: ANN001, ANN201
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    return predicate()
