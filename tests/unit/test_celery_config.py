"""The Celery wiring DESIGN §4 asks for, read from the real app object."""
from __future__ import annotations

from workers.celery_app import app, celery_config
from zona_privada.settings import load_settings


def test_reliability_settings() -> None:
    conf = app.conf
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    assert conf.task_serializer == "json" and list(conf.accept_content) == ["json"]
    assert 0 < conf.task_soft_time_limit < conf.task_time_limit


def test_visibility_timeout_dwarfs_hard_limit() -> None:
    conf = app.conf
    assert conf.broker_transport_options["visibility_timeout"] >= 10 * conf.task_time_limit


def test_visibility_timeout_follows_a_longer_hard_limit() -> None:
    env = {"DATABASE_URL": "postgresql://x@h/db", "REDIS_URL": "redis://h:6379/0", "ZONA_ENV": "production",
           "ZONA_SECRET_KEY": "k", "ZONA_DECOY_SECRET": "d", "ZONA_FLOWER_PASSWORD": "p",
           "ZONA_TASK_HARD_TIME_LIMIT_S": "900"}
    conf = celery_config(load_settings(env))
    assert conf["broker_transport_options"]["visibility_timeout"] >= 9000


def test_broker_sessions_and_throttling_use_separate_redis_databases() -> None:
    env = {"DATABASE_URL": "postgresql://x@h/db", "REDIS_URL": "redis://h:6379/0", "ZONA_ENV": "production",
           "ZONA_SECRET_KEY": "k", "ZONA_DECOY_SECRET": "d", "ZONA_FLOWER_PASSWORD": "p"}
    s = load_settings(env)
    urls = {s.broker_url, s.sessions_redis_url, s.throttle_redis_url}
    assert len(urls) == 3 and s.broker_url == "redis://h:6379/0"


def test_unix_socket_urls_for_kombu_and_redis_py() -> None:
    env = {"DATABASE_URL": "postgresql://x@/db?host=/s", "REDIS_URL": "unix:///state/redis.sock?db=0",
           "ZONA_ENV": "production", "ZONA_SECRET_KEY": "k", "ZONA_DECOY_SECRET": "d", "ZONA_FLOWER_PASSWORD": "p"}
    s = load_settings(env)
    assert s.broker_url == "redis+socket:///state/redis.sock?virtual_host=0"
    assert s.sessions_redis_url == "unix:///state/redis.sock?db=1"
    assert s.database_url.startswith("postgresql+psycopg://")


def test_task_events_are_a_switch_off_by_default() -> None:
    from zona_privada.settings import ConfigError

    env = {"DATABASE_URL": "postgresql://x@h/db", "REDIS_URL": "redis://h:6379/0", "ZONA_ENV": "production",
           "ZONA_SECRET_KEY": "k", "ZONA_DECOY_SECRET": "d", "ZONA_FLOWER_PASSWORD": "p"}
    assert celery_config(load_settings(env))["worker_send_task_events"] is False
    assert celery_config(load_settings({**env, "ZONA_CELERY_TASK_EVENTS": "1"}))["worker_send_task_events"] is True
    try:
        load_settings({**env, "ZONA_CELERY_TASK_EVENTS": "sí"})
    except ConfigError as exc:
        assert "ZONA_CELERY_TASK_EVENTS" in str(exc)
    else:
        raise AssertionError("a bad flag must be refused")


def test_a_pse_call_and_its_retries_end_inside_a_tasks_soft_limit() -> None:
    """A create killed by the time limit mid-call would be left SENT (then unknown): the
    client's whole budget must fit in the task, and a send counts as unanswered only
    after that budget."""
    from zona_privada.settings import get_settings, load_pse_settings

    pse = load_pse_settings({})
    worst = pse.retry_total_s + pse.read_timeout_s + pse.connect_timeout_s
    assert worst < app.conf.task_soft_time_limit
    assert get_settings().pse_send_timeout_s > worst
