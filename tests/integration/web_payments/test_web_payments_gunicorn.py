"""Exactly once through the real server: 50 identical "Finalizar" POSTs of one form, sent
in parallel to gunicorn (2 processes × 8 threads), make one intent, and every answer sends
the member to the same status page."""
from __future__ import annotations

import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from tests.support.ports import free_port
from tests.integration.web_payments import pages
from tests.integration.web_payments.db_checks import counts, flush_redis, intents
from tests.integration.web_payments.pages import DEMO
from tests.processes import start_web, wait_http

pytestmark = [pytest.mark.integration, pytest.mark.slow]
PARALLEL = 50


class HttpMember:
    def __init__(self, base: str) -> None:
        self.base = base
        self.http = requests.Session()

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.http.get(self.base + path, allow_redirects=False, timeout=15, **kw)

    def post(self, path: str, pairs: list[tuple[str, str]], **kw: Any) -> requests.Response:
        return self.http.post(self.base + path, data=urllib.parse.urlencode(pairs, safe="*"), allow_redirects=False,
                              headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=30, **kw)


@pytest.fixture
def web(seeded, subprocess_env: dict[str, str], tmp_path) -> Any:  # noqa: ANN001
    flush_redis()
    port = free_port()
    proc = start_web(subprocess_env, tmp_path, port, workers=2, threads=8)
    try:
        base = f"http://127.0.0.1:{port}"
        assert wait_http(f"{base}/ingresar", 30) == 200, proc.log()
        yield base
    finally:
        proc.stop()


def test_fifty_parallel_finalizar_make_one_intent(web: str, seeded) -> None:  # noqa: ANN001
    creds, ids = seeded
    member = HttpMember(web)
    pages.login(member.get, member.post, DEMO, creds[DEMO])
    page = pages.walk_to_verification(
        member.get, member.post, obligations=[("cuota", str(ids.aportes)), ("cuota", str(ids.loan))],
        funding=[("forma", "debito"), ("cuenta", str(ids.rentadiario))])
    pairs = pages.finish_pairs(page)
    before = counts()

    with ThreadPoolExecutor(PARALLEL) as pool:
        responses = list(pool.map(lambda _: member.post("/zona/pagos/finalizar", pairs), range(PARALLEL)))

    assert [r.status_code for r in responses] == [303] * PARALLEL, [r.text[:300] for r in responses if r.status_code != 303]
    locations = {r.headers["Location"] for r in responses}
    [(intent_id, _state, key)] = intents()
    assert locations == {f"/zona/pagos/estado/{intent_id}"}
    assert key == pages.field(page, "clave")
    after = counts()
    assert after["payment_intents"] == before["payment_intents"] + 1
    assert after["payment_intent_lines"] == before["payment_intent_lines"] + 2
    assert after["funding_attempts"] == before["funding_attempts"] + 1
    status = member.get(f"/zona/pagos/estado/{intent_id}.json", headers={"Accept": "application/json"})
    assert status.status_code == 200 and status.json()["intent_id"] == intent_id
