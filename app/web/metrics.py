"""GET /metrics: Prometheus text.

The web program counts what it sees itself (webhooks by result). What the worker does happens in
another process; it is read from the shared store at scrape time, so both programs' figures come
out of one endpoint without a multiprocess registry.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, disable_created_metrics, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
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


LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


def worker_metrics(conn: sqlite3.Connection) -> Iterable[Metric]:
    """What the worker did, read from its tables (the worker is another process)."""
    turns = CounterMetricFamily("chatwootai_turns", "Turns decided, by action", labels=["action"])
    handoffs = 0
    for row in conn.execute("SELECT action, count(*) AS n FROM turns GROUP BY action"):
        turns.add_metric([row["action"]], row["n"])
        handoffs += row["n"] if row["action"] == "handoff" else 0
    yield turns
    yield CounterMetricFamily("chatwootai_handoffs", "Conversations handed to a human", value=handoffs)
    calls = conn.execute("SELECT coalesce(sum(llm_calls), 0), coalesce(sum(prompt_tokens), 0) FROM turns").fetchone()
    yield CounterMetricFamily("chatwootai_llm_calls", "LLM calls made by turns", value=calls[0])
    yield CounterMetricFamily("chatwootai_llm_prompt_tokens", "Prompt tokens sent to the LLM", value=calls[1])
    sent = CounterMetricFamily("chatwootai_chatwoot_requests", "Outbox requests by purpose and state",
                               labels=["purpose", "state"])
    replies = 0
    for row in conn.execute("SELECT purpose, state, count(*) AS n FROM outbox GROUP BY purpose, state"):
        sent.add_metric([row["purpose"], row["state"]], row["n"])
        replies += row["n"] if (row["purpose"], row["state"]) == ("reply", "sent") else 0
    yield sent
    yield CounterMetricFamily("chatwootai_replies_sent", "Replies posted to Chatwoot", value=replies)
    counters = dict(conn.execute("SELECT name, value FROM counters").fetchall())
    yield CounterMetricFamily("chatwootai_chatwoot_retries", "Chatwoot requests retried",
                              value=counters.get("chatwoot_retries", 0))
    letters = conn.execute("SELECT count(*), count(*) FILTER (WHERE replayed_at IS NULL) FROM dead_letters").fetchone()
    yield CounterMetricFamily("chatwootai_dead_letters", "Chatwoot requests that failed for good", value=letters[0])
    yield GaugeMetricFamily("chatwootai_dead_letters_unreplayed", "Dead letters not replayed yet", value=letters[1])
    yield from _failure_metrics(conn)
    # One pass in SQL: cumulative bucket counts, the count and the sum.
    columns = ", ".join(f"coalesce(sum(latency <= {bound}), 0)" for bound in LATENCY_BUCKETS)
    row = conn.execute(
        f"SELECT {columns}, count(*), coalesce(sum(latency), 0) FROM"  # noqa: S608 - constants only
        " (SELECT finished_at - accepted_at AS latency FROM turns WHERE finished_at IS NOT NULL)"
    ).fetchone()
    buckets = [(str(bound), row[i]) for i, bound in enumerate(LATENCY_BUCKETS)]
    buckets.append(("+Inf", row[len(LATENCY_BUCKETS)]))
    total = row[len(LATENCY_BUCKETS) + 1]
    histogram = HistogramMetricFamily(
        "chatwootai_turn_latency_seconds", "From the newest message stored to the turn's last request sent"
    )
    histogram.add_metric([], buckets, total)
    yield histogram


def _failure_metrics(conn: sqlite3.Connection) -> Iterable[Metric]:
    try:
        failing = conn.execute("SELECT count(*) FROM conversations WHERE failures > 0").fetchone()[0]
        events = conn.execute("SELECT count(*) FROM dead_letters WHERE purpose = 'event'").fetchone()[0]
    except sqlite3.OperationalError:
        return  # a store from before failures were recorded
    yield GaugeMetricFamily("chatwootai_conversations_failing",
                            "Conversations whose last turn failed: retried with backoff, then dead-lettered",
                            value=failing)
    yield GaugeMetricFamily("chatwootai_dead_letter_events",
                            "Events moved to dead letters because their conversation's turn kept failing",
                            value=events)


@bp.get("/metrics")
async def metrics(request: Request) -> HTTPResponse:
    return raw(generate_latest(request.app.ctx.metrics.registry), content_type=CONTENT_TYPE)
