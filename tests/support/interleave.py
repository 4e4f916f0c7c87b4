"""Holding one real request between its read of the session and its write, while other
requests run: the race of a status poll in another tab, made deterministic.

`held_request(app, path, cookie)` starts a request to `path` in a thread with its own
test client carrying `cookie`; the request runs through Flask as usual (open_session
reads Redis, the view runs) and stops inside save_session, before it writes. The `with`
body runs the other requests; on leaving it the held request writes and completes."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask, request


@contextmanager
def held_request(app: Flask, path: str, cookie: tuple[str, str]) -> Iterator[dict[str, Any]]:
    interface = app.session_interface
    real_save = interface.save_session
    read_done, release = threading.Event(), threading.Event()
    result: dict[str, Any] = {}

    def save_session(app_: Flask, session: Any, response: Any) -> None:
        if request.path == path and not read_done.is_set():
            read_done.set()
            assert release.wait(30), "the held request was never released"
        real_save(app_, session, response)

    interface.save_session = save_session  # type: ignore[method-assign]

    def run() -> None:
        client = app.test_client()
        client.set_cookie(cookie[0], cookie[1])
        result["response"] = client.get(path)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        assert read_done.wait(30), "the held request never reached its write"
        yield result
    finally:
        release.set()
        thread.join(30)
        interface.save_session = real_save  # type: ignore[method-assign]
