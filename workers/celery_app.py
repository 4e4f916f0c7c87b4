"""The Celery app (superset/warehouse wiring, no Flask).

Reads the same settings module as the web; each forked worker process disposes the
inherited engine; tasks are late-acked and rejected back to the queue when a worker
dies, so a crash never loses a message (DESIGN §4 rules 3, 6, 8).
"""
from __future__ import annotations

from celery import Celery
from celery.signals import setup_logging, worker_init, worker_process_init, worker_process_shutdown

from db.engine import dispose_after_fork, name_connections
from zona_privada.settings import Settings, get_settings


# One module per concern; each holds thin tasks over db/domain functions.
TASK_MODULES = ["workers.tasks", "workers.notification_tasks", "workers.payment_tasks", "workers.ledger_tasks",
                "workers.pse_tasks"]

# The tasks that wait on PSE over the network (seconds per call, longer when ACH is slow
# or times out) run on a queue and worker of their own: on the default queue they would
# hold the few CPU-sized worker processes and stall savings payments behind them (the PSE
# fault run: p50 submit-to-applied 20 s with 2 shared processes, 5 s with 4).
PSE_IO_TASKS = ("workers.pse_tasks.pse_send", "workers.pse_tasks.pse_send_tx", "workers.pse_tasks.pse_query",
                "workers.pse_tasks.pse_finalize", "workers.pse_tasks.pse_finalize_tx",
                "workers.pse_tasks.refresh_pse_banks", "workers.pse_tasks.conciliate_pse")
DEFAULT_QUEUE = "celery"


def all_queues(settings: Settings) -> str:
    """Every queue, for a worker that does everything (tests, a one-machine install)."""
    return f"{DEFAULT_QUEUE},{settings.pse_queue}"


def celery_config(settings: Settings) -> dict[str, object]:
    return {
        "broker_url": settings.broker_url,
        "broker_connection_retry_on_startup": True,
        # A late-acked message is redelivered when it outlives this; it must dwarf the
        # hard time limit or a long task would run twice in parallel.
        "broker_transport_options": {"visibility_timeout": settings.broker_visibility_timeout_s},
        "task_ignore_result": True,
        "result_backend": None,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_soft_time_limit": settings.celery_soft_time_limit_s,
        "task_time_limit": settings.celery_hard_time_limit_s,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "timezone": "America/Bogota",
        "enable_utc": True,
        "worker_hijack_root_logger": False,
        "worker_send_task_events": settings.celery_task_events,
        # No "task-sent" event from the web: Flower follows tasks from the workers' events,
        # and one more publish per payment on the web's hot path bought nothing.
        "task_send_sent_event": False,
        "task_default_queue": DEFAULT_QUEUE,
        "task_routes": {name: {"queue": settings.pse_queue} for name in PSE_IO_TASKS},
    }


def create_celery(settings: Settings | None = None) -> Celery:
    settings = settings or get_settings()
    celery = Celery("zona_privada", include=TASK_MODULES)
    celery.conf.update(celery_config(settings))
    from workers.schedule import beat_schedule

    celery.conf.beat_schedule = beat_schedule(settings)
    # shared_task resolves the *current* app, which is thread-local: a gunicorn request
    # thread would otherwise get Celery's unconfigured default and lose the message.
    celery.set_default()
    return celery


@setup_logging.connect
def _json_logs(**_kwargs: object) -> None:
    # Connecting this signal stops Celery from installing its own handlers.
    from zona_privada.logs import configure_logging

    configure_logging()


@worker_init.connect
def _name_worker_connections(**_kwargs: object) -> None:
    # Before the pool forks (and in a solo worker): every task's connection says "worker".
    name_connections("worker")


@worker_process_init.connect
def _dispose_inherited_engine(**_kwargs: object) -> None:
    dispose_after_fork()


app = create_celery()


@worker_process_shutdown.connect
def _mark_metrics_dead(pid: int | None = None, **_kwargs: object) -> None:
    # prometheus-client's multiprocess mode: a pool process that exits is marked dead.
    from zona_privada.metrics import mark_process_dead

    mark_process_dead(pid)
