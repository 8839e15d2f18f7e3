"""GET /metrics: Prometheus text.

The web program counts what it sees itself (webhooks by result). What the worker does happens in
another process; it is read from the shared store at scrape time, so both programs' figures come
out of one endpoint without a multiprocess registry.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, disable_created_metrics, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sanic import Blueprint, Request
from sanic.response import HTTPResponse, raw

bp = Blueprint("metrics")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
disable_created_metrics()  # *_created series double the output and nobody graphs them


class WebMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._webhooks = Counter(
            "chatwootai_webhooks",
            "Webhooks received, by result (queued, duplicate, ignored, unauthorized, bad_request, error)",
            ["result"],
            registry=self.registry,
        )
        for result in ("queued", "duplicate", "ignored", "unauthorized", "bad_request", "too_large", "error"):
            self._webhooks.labels(result)

    def webhook(self, result: str) -> None:
        self._webhooks.labels(result).inc()

    def add_store_collector(self, collectors: Iterable[Callable[[sqlite3.Connection], Iterable[Metric]]],
                            connection: Callable[[], sqlite3.Connection]) -> None:
        self.registry.register(_StoreCollector(collectors, connection))


class _StoreCollector(Collector):
    def __init__(self, collectors, connection) -> None:
        self._collectors = list(collectors)
        self._connection = connection

    def collect(self) -> Iterable[Metric]:
        conn = self._connection()
        for collect in self._collectors:
            try:
                yield from collect(conn)
            except sqlite3.Error:
                continue  # a table of a component that has not run yet: nothing to report


def inbox_metrics(conn: sqlite3.Connection) -> Iterable[Metric]:
    depth = conn.execute(
        "SELECT count(*) FROM events WHERE state = 'pending' AND answerable = 1"
    ).fetchone()[0]
    yield GaugeMetricFamily("chatwootai_inbox_depth", "Answerable events waiting for the worker", value=depth)


@bp.get("/metrics")
async def metrics(request: Request) -> HTTPResponse:
    return raw(generate_latest(request.app.ctx.metrics.registry), content_type=CONTENT_TYPE)
