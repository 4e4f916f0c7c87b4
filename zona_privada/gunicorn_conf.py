"""Gunicorn settings `./zona up` passes (`--config python:zona_privada.gunicorn_conf`):
prometheus-client's multiprocess mode asks that each exiting worker be marked dead."""
from __future__ import annotations

from typing import Any


def child_exit(_server: Any, worker: Any) -> None:
    from zona_privada.metrics import mark_process_dead

    mark_process_dead(worker.pid)
