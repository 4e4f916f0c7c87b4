"""Settings, read from the environment in this one module (DESIGN §7).

Every process (web, worker, beat, Flower, tests, benchmarks) calls `get_settings()`;
nothing else reads `os.environ` for configuration. Development secrets are generated
on first start into the state folder, so no secret ever lives in the repository.
"""
from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Mapping


class ConfigError(Exception):
    """Bad configuration: the message is a one-line explanation for a person."""


REDIS_DB_BROKER = 0
REDIS_DB_SESSIONS = 1
REDIS_DB_THROTTLE = 2
REDIS_DB_RESULTS = 3


@dataclass(frozen=True, slots=True)
class Settings:
    env: str
    state_dir: Path
    database_url: str
    redis_url: str
    secret_key: str
    decoy_secret: str
    flower_user: str
    flower_password: str
    web_host: str
    web_port: int
    flower_port: int
    pse_port: int
    smtp_host: str
    smtp_port: int
    mail_from: str
    sms_gateway_url: str
    db_pool_size: int
    db_max_overflow: int
    celery_soft_time_limit_s: int
    celery_hard_time_limit_s: int
    broker_visibility_timeout_s: int
    worker_concurrency: int
    # Savings-only payments per batch transaction (db/payments/batch.py); 0: one task and
    # one transaction per payment, as before issue 12.
    apply_batch: int
    pse_queue: str                  # the queue of the tasks that wait on PSE (SOAP over the network)
    pse_worker_concurrency: int     # processes of the worker that consumes it
    # Celery's per-task events (what Flower's task list shows). Off by default: they cost
    # 3.8 ms of worker CPU per payment, a quarter of it (bench/bench_payment_cpu.py
    # --celery); Flower still shows workers, their stats and active tasks, and the queues.
    celery_task_events: bool
    # The cooperative's late-interest (mora) rate, E.A. Each day is charged at the lowest
    # of this, the loan's agreed late rate and that day's certified usury cap (the
    # certified caps are data in the usury_rates table, never settings: DESIGN §3).
    late_interest_ea: Decimal
    fault: str | None
    redis_db_base: int
    # --- members' sessions and login (issue 3) ---
    session_idle_timeout_s: int
    session_idle_warning_s: int
    session_absolute_timeout_s: int
    temp_key_ttl_s: int
    lockout_threshold: int
    lockout_duration_s: int
    login_ip_limit: int
    login_ip_window_s: int
    temp_key_document_limit: int
    temp_key_ip_limit: int
    temp_key_window_s: int
    # Steps 1 and 2 of the login (document, image and phrase): per IP and per document,
    # so nobody walks through document numbers to learn who is a member.
    login_step_ip_limit: int
    login_step_document_limit: int
    login_step_window_s: int
    # Proxies in front of the web that set X-Forwarded-For (werkzeug ProxyFix); 0 trusts none.
    trusted_proxies: int
    # How long a device the member logged in from stays known (the signed device cookie).
    known_device_max_age_s: int
    password_min_length: int
    password_max_length: int
    data_consent_version: str
    # --- payments (issue 4) ---
    payment_max_per_transaction_cop: Decimal
    payment_max_per_day_cop: Decimal
    payment_otp_threshold_cop: Decimal
    otp_ttl_s: int
    otp_daily_cap: int  # one-time codes sent to one member per Bogotá day
    intent_step_deadline_s: int
    reconciler_period_s: float
    # How many re-drives of one intent's step before it goes to the review queue, and how
    # many intents one reconciler run claims / alerts on (issue 9 item 6).
    reconciler_redrive_max: int
    reconciler_batch: int
    reconciler_alert_batch: int
    payment_promise_s: int
    hold_ttl_s: int
    # PSE payments (issue 10), every figure scalable so tests run them in seconds:
    pse_funding_window_s: float     # a funding PSE intent expires for the member after this
    pse_poll_period_s: float        # beat: queries due, tickets never sent, finalizes owed
    pse_send_timeout_s: float       # a create sent this long ago without a stored answer is unknown
    pse_poll_batch: int             # transactions one poller run claims
    pse_conciliation_period_s: float  # 0: daily at 06:10 Bogotá (yesterday and today); else every N s
    # The site's address as members reach it (https://zona.cooperativa.coop), for the links
    # that leave it: PSE's entityurl, where the bank sends the member back. Empty: the
    # request's own host (development, tests), which a proxy may have rewritten.
    public_url: str
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_development(self) -> bool:
        return self.env in ("development", "test")

    @property
    def operator_emails(self) -> tuple[str, ...]:
        """ZONA_OPERATOR_EMAILS, comma-separated: who is e-mailed on a broken payment
        promise (issue 12)."""
        raw = self.extra.get("ZONA_OPERATOR_EMAILS", "")
        return tuple(dict.fromkeys(e.strip() for e in raw.split(",") if e.strip()))

    @property
    def metrics_token(self) -> str | None:
        """ZONA_METRICS_TOKEN: the bearer token /metrics asks for; unset, /metrics answers
        only on loopback (webapp/metrics.py)."""
        return self.extra.get("ZONA_METRICS_TOKEN") or None

    def redis_db_url(self, db: int) -> str:
        """The same Redis server, another database number (broker, sessions, throttling).
        ZONA_REDIS_DB_BASE shifts all of them, so tests on a shared server stay apart."""
        return with_redis_db(self.redis_url, self.redis_db_base + db)

    @property
    def broker_url(self) -> str:
        """Kombu spells a unix socket differently from redis-py (redis+socket://,
        virtual_host) so the same embedded socket serves both."""
        return celery_redis_url(self.redis_db_url(REDIS_DB_BROKER))

    @property
    def broker_redis_url(self) -> str:
        """The broker's database as redis-py spells it (for health checks, flushes)."""
        return self.redis_db_url(REDIS_DB_BROKER)

    @property
    def sessions_redis_url(self) -> str:
        return self.redis_db_url(REDIS_DB_SESSIONS)

    @property
    def throttle_redis_url(self) -> str:
        return self.redis_db_url(REDIS_DB_THROTTLE)

    @property
    def results_redis_url(self) -> str:
        return self.redis_db_url(REDIS_DB_RESULTS)


def with_redis_db(url: str, db: int) -> str:
    """Point a redis:// or unix:// URL at database `db`, replacing any number it had."""
    if url.startswith("unix://"):
        base, _, query = url.partition("?")
        params = [p for p in query.split("&") if p and not p.startswith("db=")]
        params.append(f"db={db}")
        return f"{base}?{'&'.join(params)}"
    if "://" not in url:
        raise ConfigError(f"REDIS_URL no es una URL de Redis válida: {url!r}")
    scheme, rest = url.split("://", 1)
    hostpart, _, _path = rest.partition("/")
    return f"{scheme}://{hostpart}/{db}"


def celery_redis_url(url: str) -> str:
    if not url.startswith("unix://"):
        return url
    base, _, query = url.partition("?")
    db = next((p.split("=", 1)[1] for p in query.split("&") if p.startswith("db=")), "0")
    return "redis+socket://" + base[len("unix://"):] + f"?virtual_host={db}"


def normalize_database_url(url: str) -> str:
    """SQLAlchemy needs the psycopg 3 driver named; accept plain postgresql:// URLs."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    if url.startswith("postgresql+psycopg://"):
        return url
    raise ConfigError(f"DATABASE_URL debe ser una URL postgresql://, no {url.split(':', 1)[0]!r}")


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    value = _int(env, name, default)
    if value < 1:
        raise ConfigError(f"{name} must be at least 1, got {value}")
    return value


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = (env.get(name) or "0").strip().lower()
    if raw not in ("0", "1", "true", "false"):
        raise ConfigError(f"{name} must be 1 or 0, got {raw!r}")
    return raw in ("1", "true")


def _decimal(env: Mapping[str, str], name: str, default: str) -> Decimal:
    raw = env.get(name) or default
    try:
        return Decimal(raw)
    except ArithmeticError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None


def _public_url(env: Mapping[str, str]) -> str:
    raw = (env.get("ZONA_PUBLIC_URL") or "").strip().rstrip("/")
    if raw and (not raw.startswith(("https://", "http://")) or "?" in raw or "#" in raw):
        raise ConfigError(f"ZONA_PUBLIC_URL must be an http(s) address without query, got {raw!r}")
    return raw


def _rate(env: Mapping[str, str], name: str, default: str) -> Decimal:
    value = _decimal(env, name, default)
    if not Decimal(0) <= value < Decimal(10):
        raise ConfigError(f"{name} is an effective annual rate as a fraction (0.22 is 22 %), got {value}")
    return value


def load_dev_secrets(state_dir: Path) -> dict[str, str]:
    """Secrets for development, generated once per state folder and kept there (0600)."""
    path = state_dir / "secrets.json"
    if path.exists():
        return json.loads(path.read_text())
    state_dir.mkdir(parents=True, exist_ok=True)
    values = {
        "secret_key": secrets.token_urlsafe(48),
        "decoy_secret": secrets.token_urlsafe(48),
        "flower_password": secrets.token_urlsafe(12),
    }
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(values, fh)
    os.replace(tmp, path)
    return values


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    zona_env = env.get("ZONA_ENV", "development")
    state_dir = Path(env.get("ZONA_STATE_DIR", "var")).resolve()
    database_url = env.get("DATABASE_URL")
    redis_url = env.get("REDIS_URL")
    if not database_url:
        raise ConfigError("DATABASE_URL is not set (./zona up sets it for every process it starts)")
    if not redis_url:
        raise ConfigError("REDIS_URL is not set (./zona up sets it for every process it starts)")

    if zona_env == "production":
        missing = [n for n in ("ZONA_SECRET_KEY", "ZONA_DECOY_SECRET", "ZONA_FLOWER_PASSWORD") if not env.get(n)]
        if missing:
            raise ConfigError(f"production needs {', '.join(missing)} in the environment")
        generated: dict[str, str] = {}
    else:
        generated = load_dev_secrets(state_dir)

    hard_s = _int(env, "ZONA_TASK_HARD_TIME_LIMIT_S", 60)
    return Settings(
        env=zona_env,
        state_dir=state_dir,
        database_url=normalize_database_url(database_url),
        redis_url=redis_url,
        secret_key=env.get("ZONA_SECRET_KEY") or generated["secret_key"],
        decoy_secret=env.get("ZONA_DECOY_SECRET") or generated["decoy_secret"],
        flower_user=env.get("ZONA_FLOWER_USER", "operador"),
        flower_password=env.get("ZONA_FLOWER_PASSWORD") or generated["flower_password"],
        web_host=env.get("ZONA_WEB_HOST", "127.0.0.1"),
        web_port=_int(env, "ZONA_WEB_PORT", 8000),
        flower_port=_int(env, "ZONA_FLOWER_PORT", 5555),
        pse_port=_int(env, "ZONA_PSE_PORT", 8100),
        smtp_host=env.get("ZONA_SMTP_HOST", "127.0.0.1"),
        smtp_port=_int(env, "ZONA_SMTP_PORT", 8025),
        mail_from=env.get("ZONA_MAIL_FROM", "Zona Privada <no-responder@cooperativa-alianza.coop>"),
        sms_gateway_url=env.get("ZONA_SMS_GATEWAY_URL", ""),
        db_pool_size=_int(env, "ZONA_DB_POOL_SIZE", 5),
        db_max_overflow=_int(env, "ZONA_DB_MAX_OVERFLOW", 5),
        celery_soft_time_limit_s=_int(env, "ZONA_TASK_SOFT_TIME_LIMIT_S", 30),
        celery_hard_time_limit_s=hard_s,
        # DESIGN §4 rule 6: a late-acked task is redelivered once it outlives this, so it
        # must dwarf the hard limit; tasks never sleep, deadlines live on the rows.
        broker_visibility_timeout_s=_int(env, "ZONA_BROKER_VISIBILITY_TIMEOUT_S", max(3600, 10 * hard_s)),
        worker_concurrency=_int(env, "ZONA_WORKER_CONCURRENCY", 2),
        apply_batch=_int(env, "ZONA_APPLY_BATCH", 20),
        pse_queue=env.get("ZONA_PSE_QUEUE", "pse"),
        pse_worker_concurrency=_int(env, "ZONA_PSE_WORKER_CONCURRENCY", 4),
        celery_task_events=_flag(env, "ZONA_CELERY_TASK_EVENTS"),
        late_interest_ea=_rate(env, "ZONA_LATE_INTEREST_EA", "0.22"),
        fault=env.get("ZONA_FAULT") or None,
        redis_db_base=_int(env, "ZONA_REDIS_DB_BASE", 0),
        session_idle_timeout_s=_int(env, "ZONA_SESSION_IDLE_TIMEOUT_S", 600),
        session_idle_warning_s=_int(env, "ZONA_SESSION_IDLE_WARNING_S", 60),
        session_absolute_timeout_s=_int(env, "ZONA_SESSION_ABSOLUTE_TIMEOUT_S", 8 * 3600),
        temp_key_ttl_s=_int(env, "ZONA_TEMP_KEY_TTL_S", 600),
        lockout_threshold=_int(env, "ZONA_LOCKOUT_THRESHOLD", 5),
        lockout_duration_s=_int(env, "ZONA_LOCKOUT_DURATION_S", 15 * 60),
        login_ip_limit=_int(env, "ZONA_LOGIN_IP_LIMIT", 30),
        login_ip_window_s=_int(env, "ZONA_LOGIN_IP_WINDOW_S", 300),
        temp_key_document_limit=_int(env, "ZONA_TEMP_KEY_DOCUMENT_LIMIT", 3),
        temp_key_ip_limit=_int(env, "ZONA_TEMP_KEY_IP_LIMIT", 10),
        temp_key_window_s=_int(env, "ZONA_TEMP_KEY_WINDOW_S", 3600),
        login_step_ip_limit=_int(env, "ZONA_LOGIN_STEP_IP_LIMIT", 60),
        login_step_document_limit=_int(env, "ZONA_LOGIN_STEP_DOCUMENT_LIMIT", 20),
        login_step_window_s=_int(env, "ZONA_LOGIN_STEP_WINDOW_S", 300),
        trusted_proxies=_int(env, "ZONA_TRUSTED_PROXIES", 0),
        known_device_max_age_s=_int(env, "ZONA_KNOWN_DEVICE_MAX_AGE_S", 365 * 24 * 3600),
        password_min_length=_int(env, "ZONA_PASSWORD_MIN_LENGTH", 4),
        password_max_length=_int(env, "ZONA_PASSWORD_MAX_LENGTH", 8),
        data_consent_version=env.get("ZONA_DATA_CONSENT_VERSION", "2024-01"),
        payment_max_per_transaction_cop=_decimal(env, "ZONA_PAYMENT_MAX_PER_TRANSACTION_COP", "20000000"),
        payment_max_per_day_cop=_decimal(env, "ZONA_PAYMENT_MAX_PER_DAY_COP", "50000000"),
        payment_otp_threshold_cop=_decimal(env, "ZONA_PAYMENT_OTP_THRESHOLD_COP", "2000000"),
        otp_ttl_s=_int(env, "ZONA_OTP_TTL_S", 300),
        otp_daily_cap=_int(env, "ZONA_OTP_DAILY_CAP", 10),
        intent_step_deadline_s=_int(env, "ZONA_INTENT_STEP_DEADLINE_S", 30),
        reconciler_period_s=float(env.get("ZONA_RECONCILER_PERIOD_S", "15")),
        reconciler_redrive_max=_positive_int(env, "ZONA_RECONCILER_REDRIVE_MAX", 8),
        reconciler_batch=_positive_int(env, "ZONA_RECONCILER_BATCH", 500),
        reconciler_alert_batch=_positive_int(env, "ZONA_RECONCILER_ALERT_BATCH", 100),
        payment_promise_s=_int(env, "ZONA_PAYMENT_PROMISE_S", 30 * 60),
        hold_ttl_s=_int(env, "ZONA_HOLD_TTL_S", 2 * 3600),
        # PSE's bank session lasts about 21 minutes (pse-reference §1.4): 25 leaves the
        # member time to come back and stays inside the half-hour promise.
        pse_funding_window_s=float(env.get("ZONA_PSE_FUNDING_WINDOW_S", str(25 * 60))),
        pse_poll_period_s=float(env.get("ZONA_PSE_POLL_PERIOD_S", "10")),
        # Above the client's whole retry budget (ZONA_PSE_RETRY_TOTAL_S plus one read time-out).
        pse_send_timeout_s=float(env.get("ZONA_PSE_SEND_TIMEOUT_S", "120")),
        pse_poll_batch=_positive_int(env, "ZONA_PSE_POLL_BATCH", 200),
        pse_conciliation_period_s=float(env.get("ZONA_PSE_CONCILIATION_PERIOD_S", "0")),
        public_url=_public_url(env),
        extra={k: v for k, v in env.items() if k.startswith("ZONA_")},
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()


def reset_settings_cache() -> None:
    """Tests change the environment and then ask for fresh settings."""
    get_settings.cache_clear()


# --- PSE (ACH Colombia) client and sandbox (issue 10) --------------------------------
# Read apart from `Settings` on purpose: the sandbox process has no database or Redis,
# and the client's settings must load without them too.


@dataclass(frozen=True, slots=True)
class PseSettings:
    port: int                      # where `./zona up` runs the sandbox
    url: str                       # the MainServices endpoint the client calls
    wsdl_path: Path                # ACH's WSDL, read locally (never fetched at run time)
    entity_code: str               # the cooperative's NIT as ACH knows it
    service_code: str              # the collection service code ACH assigned
    username: str                  # WS-Security UsernameToken
    password: str
    connect_timeout_s: float
    read_timeout_s: float
    retry_attempts: int            # tenacity stop: attempts and total time
    retry_total_s: float
    retry_wait_initial_s: float    # jittered exponential backoff between attempts
    retry_wait_max_s: float
    cert_file: str                 # optional X.509 signing (zeep.wsse.signature, xmlsec)
    key_file: str
    key_password: str
    wsse_window_s: int             # sandbox: how old (or how far ahead) a Created may be
    sandbox_pending_s: float       # sandbox: PENDING this long, then the test bank decides
    sandbox_late_s: float          # sandbox: a "late" approval comes after this long
    sandbox_slow_s: float          # sandbox: a slow answer takes this long
    sandbox_hang_s: float          # sandbox: a time-out holds the answer this long
    sandbox_client_cert: str       # sandbox: when set, every message must be signed with this cert
    banks_check_s: float           # beat asks this often whether the bank list is due
    banks_refresh_s: float         # the list is fetched again once it is this old (a day)
    banks_max_age_s: float         # older than this, the wizard offers no list (PSE's message)
    query_phases: str              # "every:until,..." seconds from the create (domain/pse_polling)


def load_pse_settings(env: Mapping[str, str] | None = None) -> PseSettings:
    env = os.environ if env is None else env
    port = _int(env, "ZONA_PSE_PORT", 8100)
    default_wsdl = Path(__file__).resolve().parent.parent / "integrations" / "pse_sandbox" / "ach" / "MainServices.wsdl"
    return PseSettings(
        port=port,
        url=env.get("ZONA_PSE_URL") or f"http://127.0.0.1:{port}/PSEWebServices3/MainServices.asmx",
        wsdl_path=Path(env.get("ZONA_PSE_WSDL") or default_wsdl),
        entity_code=env.get("ZONA_PSE_ENTITY_CODE", "890900123"),
        service_code=env.get("ZONA_PSE_SERVICE_CODE", "1001"),
        username=env.get("ZONA_PSE_USERNAME", "zona-privada"),
        # A development credential shared by the client and the sandbox; production sets its own.
        password=env.get("ZONA_PSE_PASSWORD", "sandbox-solo-desarrollo"),
        connect_timeout_s=float(env.get("ZONA_PSE_CONNECT_TIMEOUT_S", "3")),
        read_timeout_s=float(env.get("ZONA_PSE_READ_TIMEOUT_S", "10")),
        retry_attempts=_int(env, "ZONA_PSE_RETRY_ATTEMPTS", 4),
        # A call and its retries end within a task's soft time limit (30 s): 15 s of
        # retrying plus one last read time-out (10 s) and connect (3 s).
        retry_total_s=float(env.get("ZONA_PSE_RETRY_TOTAL_S", "15")),
        retry_wait_initial_s=float(env.get("ZONA_PSE_RETRY_WAIT_INITIAL_S", "0.5")),
        retry_wait_max_s=float(env.get("ZONA_PSE_RETRY_WAIT_MAX_S", "5")),
        cert_file=env.get("ZONA_PSE_CERT_FILE", ""),
        key_file=env.get("ZONA_PSE_KEY_FILE", ""),
        key_password=env.get("ZONA_PSE_KEY_PASSWORD", ""),
        wsse_window_s=_int(env, "ZONA_PSE_WSSE_WINDOW_S", 300),
        sandbox_pending_s=float(env.get("ZONA_PSE_SANDBOX_PENDING_S", "60")),
        sandbox_late_s=float(env.get("ZONA_PSE_SANDBOX_LATE_S", "2400")),
        sandbox_slow_s=float(env.get("ZONA_PSE_SANDBOX_SLOW_S", "5")),
        sandbox_hang_s=float(env.get("ZONA_PSE_SANDBOX_HANG_S", "30")),
        sandbox_client_cert=env.get("ZONA_PSE_SANDBOX_CLIENT_CERT", ""),
        # pse-reference §2.5: cache the list and refresh it once a day; a failed refresh
        # is tried again at the next check, and yesterday's list is still offered.
        banks_check_s=float(env.get("ZONA_PSE_BANKS_CHECK_S", "3600")),
        banks_refresh_s=float(env.get("ZONA_PSE_BANKS_REFRESH_S", "86400")),
        banks_max_age_s=float(env.get("ZONA_PSE_BANKS_MAX_AGE_S", "259200")),
        # Every 3 min to 25 min, every 12 min to 90 min, daily to 7 days (domain/pse_polling).
        query_phases=env.get("ZONA_PSE_QUERY_PHASES", "180:1500,720:5400,86400:604800"),
    )
