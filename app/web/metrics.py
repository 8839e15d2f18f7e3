"""GET /metrics: Prometheus text.

The web program counts what it sees itself (webhooks by result). What the worker does happens in
another process; it is read from the shared store at scrape time, so both programs' figures come
out of one endpoint without a multiprocess registry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, disable_created_metrics, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from sanic import Blueprint, Request
from sanic.response import HTTPResponse, raw

from app.store import status
from app.store.db import Connection, DatabaseError, OperationalError

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

    def add_store_collector(self, collectors: Iterable[Callable[[Connection], Iterable[Metric]]],
                            connection: Callable[[], Connection]) -> None:
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
            except DatabaseError:
                continue  # a table of a component that has not run yet: nothing to report


def inbox_metrics(conn: Connection) -> Iterable[Metric]:
    yield GaugeMetricFamily("chatwootai_inbox_depth", "Answerable events waiting for the worker",
                            value=status.inbox_depth(conn))


LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


def worker_metrics(conn: Connection) -> Iterable[Metric]:
    """What the worker did, read from its tables (the worker is another process)."""
    turns = CounterMetricFamily("chatwootai_turns", "Turns decided, by action", labels=["action"])
    handoffs = 0
    for action, n in status.turns_by_action(conn):
        turns.add_metric([action], n)
        handoffs += n if action == "handoff" else 0
    yield turns
    yield CounterMetricFamily("chatwootai_handoffs", "Conversations handed to a human", value=handoffs)
    calls, tokens = status.llm_usage(conn)
    yield CounterMetricFamily("chatwootai_llm_calls", "LLM calls made by turns", value=calls)
    yield CounterMetricFamily("chatwootai_llm_prompt_tokens", "Prompt tokens sent to the LLM", value=tokens)
    sent = CounterMetricFamily("chatwootai_chatwoot_requests", "Outbox requests by purpose and state",
                               labels=["purpose", "state"])
    replies = 0
    for purpose, state, n in status.requests_by_purpose_and_state(conn):
        sent.add_metric([purpose, state], n)
        replies += n if (purpose, state) == ("reply", "sent") else 0
    yield sent
    yield CounterMetricFamily("chatwootai_replies_sent", "Replies posted to Chatwoot", value=replies)
    counters = status.counters(conn)
    yield CounterMetricFamily("chatwootai_chatwoot_retries", "Chatwoot requests retried",
                              value=counters.get("chatwoot_retries", 0))
    letters, unreplayed = status.dead_letter_counts(conn)
    yield CounterMetricFamily("chatwootai_dead_letters", "Chatwoot requests that failed for good", value=letters)
    yield GaugeMetricFamily("chatwootai_dead_letters_unreplayed", "Dead letters not replayed yet", value=unreplayed)
    yield from _failure_metrics(conn)
    within, total, seconds = status.turn_latency(conn, LATENCY_BUCKETS)
    buckets = [(str(bound), n) for bound, n in zip(LATENCY_BUCKETS, within, strict=True)]
    buckets.append(("+Inf", total))
    histogram = HistogramMetricFamily(
        "chatwootai_turn_latency_seconds", "From the newest message stored to the turn's last request sent"
    )
    histogram.add_metric([], buckets, seconds)
    yield histogram


def _failure_metrics(conn: Connection) -> Iterable[Metric]:
    try:
        failing = status.failing_count(conn)
        events = status.dead_letter_event_count(conn)
    except OperationalError:
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
