"""GET /metrics: Prometheus' plain-text exposition format, for a Prometheus server to
scrape (not a page for people).

What it shows:
- the counters and histograms every process records (zona_privada/metrics.py), summed
  over gunicorn's and Celery's worker processes by prometheus-client's
  MultiProcessCollector when PROMETHEUS_MULTIPROC_DIR is set (`./zona up` sets it);
- read at scrape time, never kept by a process: payment intents by state and the open
  review items (ONE query to PostgreSQL, a GROUP BY), and the depth of the Celery queue
  (Redis LLEN). A source that does not answer is reported as zona_metrics_source_up 0
  instead of failing the whole scrape.

Who may read it: it reveals volumes and backlogs, not personal data, but it is still
operations data. With ZONA_METRICS_TOKEN set, a scraper must send
`Authorization: Bearer <token>` (Prometheus' `authorization` setting), from anywhere:
that is the production setting, where Prometheus runs on another host. Without a token
it answers only to loopback peers that did not come through a proxy (no
X-Forwarded-For), i.e. a Prometheus or `curl` on the same machine in development; a
request relayed by a local reverse proxy from the internet is refused.
"""
from __future__ import annotations

import hmac
import os
from collections.abc import Iterator

import redis
from flask import Blueprint, Response, request
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from sqlalchemy import text

from db.engine import get_engine
from domain.payment_states import IntentState
from zona_privada.metrics import MULTIPROC_ENV
from zona_privada.settings import get_settings

bp = Blueprint("metrics", __name__)

LOOPBACK = frozenset({"127.0.0.1", "::1", "::ffff:127.0.0.1"})
MSG_FORBIDDEN = "Acceso no permitido a las métricas"
MSG_TOKEN = "Token de acceso a las métricas inválido o ausente"

# One round trip: every intent state's count and the open review items.
_COUNTS_SQL = text("""
    SELECT 'intent' AS what, state::text AS label, count(*) FROM payment_intents GROUP BY state
    UNION ALL
    SELECT 'review', 'open', count(*) FROM review_items WHERE state = 'open'""")


def _queue_names() -> list[str]:
    from workers.celery_app import app as celery_app

    names = [celery_app.conf.task_default_queue]
    for queue in celery_app.conf.task_queues or ():
        if queue.name not in names:
            names.append(queue.name)
    return names


class ScrapeTimeCollector(Collector):
    """States read when Prometheus asks, so no process has to keep them right."""

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("zona_metrics_source_up", "Whether a source answered this scrape", labels=["source"])
        try:
            with get_engine().connect() as conn:
                conn.execute(text("SET LOCAL statement_timeout = '5s'"))
                rows = conn.execute(_COUNTS_SQL).all()
            intents = GaugeMetricFamily("zona_payment_intents", "Payment intents by state", labels=["state"])
            by_state = {label: count for what, label, count in rows if what == "intent"}
            for state in IntentState:
                intents.add_metric([state.value], by_state.get(state.value, 0))
            yield intents
            review = next((count for what, _label, count in rows if what == "review"), 0)
            yield GaugeMetricFamily("zona_review_items_open", "Review items a person has not decided yet", value=review)
            up.add_metric(["postgresql"], 1)
        except Exception:  # noqa: BLE001 - a scrape reports the source down, never fails
            up.add_metric(["postgresql"], 0)
        try:
            client = redis.Redis.from_url(get_settings().broker_redis_url, socket_timeout=2, socket_connect_timeout=2)
            try:
                depth = GaugeMetricFamily("zona_celery_queue_depth", "Messages waiting in a Celery queue",
                                          labels=["queue"])
                for name in _queue_names():
                    depth.add_metric([name], client.llen(name))
            finally:
                client.close()
            yield depth
            up.add_metric(["redis"], 1)
        except Exception:  # noqa: BLE001
            up.add_metric(["redis"], 0)
        yield up


def _allowed() -> Response | None:
    token = get_settings().metrics_token
    if token:
        given = request.headers.get("Authorization", "")
        if not (given.startswith("Bearer ") and hmac.compare_digest(given[7:].encode(), token.encode())):
            return Response(MSG_TOKEN, 401, {"WWW-Authenticate": 'Bearer realm="metrics"'},
                            mimetype="text/plain")
        return None
    if request.remote_addr not in LOOPBACK or request.headers.get("X-Forwarded-For"):
        return Response(MSG_FORBIDDEN, 403, mimetype="text/plain")
    return None


def registry_for_scrape() -> CollectorRegistry:
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:  # one process (development without ./zona up): its own default registry
        registry = CollectorRegistry()
        registry.register(_Default())
    registry.register(ScrapeTimeCollector())
    return registry


class _Default(Collector):
    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


@bp.get("/metrics")
def metrics() -> Response:
    refused = _allowed()
    if refused is not None:
        return refused
    return Response(generate_latest(registry_for_scrape()), mimetype=None,
                    headers={"Content-Type": CONTENT_TYPE_LATEST, "Cache-Control": "no-store"})
