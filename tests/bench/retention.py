"""Retention benchmark (issue 7): webhook latency while the worker's pruning deletes 200k old rows.

A store is filled with 200k rows older than RETENTION_DAYS (answered events with real ~3 KB
payloads, finished turns with their sent requests, the hub's memory), the real `chatwootai serve`
runs on it, and signed webhooks are sent at a steady rate:
  (a) with nothing else running (baseline);
  (b) while `app.worker.retention.prune` — the code the worker runs, in its own process as in the
      appliance — deletes everything old.
Latency is measured from each request's scheduled send time (a late answer delays the next
send, so nothing hides behind a slow one). Goal: p99 < 50 ms during (b).

    .venv/bin/python tests/bench/retention.py [--rows 200000] [--rate 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.bench.ingest import build_requests, wait_up  # noqa: E402
from tests.support import base_env, fixture_event, free_port  # noqa: E402

DAY = 86_400.0
PRUNER = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
from app.store.db import connect
from app.store.retention import prune
conn = connect(sys.argv[2])
start = time.perf_counter()
counts = prune(conn, time.time() - 30 * 86400)
print(json.dumps({"seconds": time.perf_counter() - start, "counts": counts}), flush=True)
"""


def build_store(db: Path, rows: int) -> dict[str, int]:
    from app.store.memory import migrate_memory
    from app.worker.loop import open_worker_store

    conn = open_worker_store(db)
    migrate_memory(conn)
    old = time.time() - 40 * DAY
    payload = json.dumps(fixture_event("message_created_incoming"))
    n_events, n_turns, n_memory = rows // 2, rows // 5, rows - rows // 2 - 2 * (rows // 5)
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO events (delivery_id, account_id, conversation_id, message_id, kind, answerable, payload,"
        " received_at, state, processed_at) VALUES (?, 1, ?, ?, 'message_created', 1, ?, ?, 'done', ?)",
        ((f"old-{i}", i % 5000, i, payload, old + i * 0.01, old + i * 0.01) for i in range(n_events)))
    conn.executemany(
        "INSERT INTO turns (id, account_id, conversation_id, event_ids, action, accepted_at, started_at, decided_at,"
        " finished_at) VALUES (?, 1, ?, '[1]', 'reply', ?, ?, ?, ?)",
        ((i + 1, i % 5000, old + i, old + i, old + i, old + i) for i in range(n_turns)))
    conn.executemany(
        "INSERT INTO outbox (turn_id, seq, purpose, account_id, conversation_id, method, path, body, state, sent_at)"
        " VALUES (?, 0, 'reply', 1, ?, 'POST', '/api/v1/accounts/1/conversations/1/messages', ?, 'sent', ?)",
        ((i + 1, i % 5000, '{"content": "Olá! O hidratante facial custa R$ 49,90."}', old + i)
         for i in range(n_turns)))
    conn.executemany(
        "INSERT INTO ctx_turns (account_id, conversation_id, role, text, at) VALUES (1, ?, 'customer', ?, ?)",
        ((i % 5000, "quanto custa o hidratante facial?", old + i) for i in range(n_memory)))
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return {"events": n_events, "turns": n_turns, "outbox": n_turns, "memory": n_memory}


async def paced(port: int, requests: list[bytes], rate: float, stop: asyncio.Event, connections: int = 4):
    """Send at `rate` req/s over `connections` keep-alive connections until `stop`; latencies in ms."""
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    interval = connections / rate
    index = iter(range(len(requests)))

    async def one(offset: float) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        scheduled = time.perf_counter() + offset
        try:
            while not stop.is_set():
                i = next(index, None)
                if i is None:
                    return
                delay = scheduled - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                writer.write(requests[i])
                await writer.drain()
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(int(line[15:]) for line in head.split(b"\r\n") if line[:15].lower() == b"content-length:")
                await reader.readexactly(length)
                latencies.append((time.perf_counter() - scheduled) * 1000)
                status = head.split(b" ", 2)[1].decode()
                statuses[status] = statuses.get(status, 0) + 1
                scheduled += interval
        finally:
            writer.close()

    await asyncio.gather(*(one(k * interval / connections) for k in range(connections)))
    return latencies, statuses


def figures(latencies: list[float]) -> str:
    values = sorted(latencies)
    if not values:
        return "no requests"
    p99 = values[min(len(values) - 1, int(0.99 * len(values)))]
    return (f"{len(values):5d} webhooks  p50 {statistics.median(values):6.1f} ms  p99 {p99:6.1f} ms  "
            f"max {values[-1]:6.1f} ms")


async def phase(port: int, rate: float, seconds: float | None, pruner: list[str] | None, env: dict, first_id: int):
    requests = build_requests(port, int(rate * 600), first_id=first_id)
    stop = asyncio.Event()
    load = asyncio.create_task(paced(port, requests, rate, stop))
    result = None
    if pruner is None:
        await asyncio.sleep(seconds)
    else:
        proc = await asyncio.create_subprocess_exec(*pruner, env=env, stdout=subprocess.PIPE)
        out, _ = await proc.communicate()
        result = json.loads(out)
    stop.set()
    latencies, statuses = await load
    return latencies, statuses, result


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--rate", type=float, default=100.0, help="webhooks per second")
    parser.add_argument("--baseline", type=float, default=10.0, help="seconds of load without pruning")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        db = tmp_path / "data" / "chatwootai.db"
        start = time.perf_counter()
        built = build_store(db, args.rows)
        size_mb = os.path.getsize(db) / 1e6
        print(f"store: {sum(built.values())} rows older than 30 days {built}, {size_mb:.0f} MB, "
              f"built in {time.perf_counter() - start:.0f} s")
        port = free_port()
        env = {**os.environ, "PYTHONPATH": str(ROOT),
               **base_env(tmp_path, WEBHOOK_PORT=str(port), LOG_LEVEL="WARNING", RETENTION_DAYS="30")}
        web = subprocess.Popen([sys.executable, "-m", "app.cli", "serve"], env=env, cwd=tmp_path,
                               stdout=(tmp_path / "web.out").open("wb"), stderr=subprocess.STDOUT)
        try:
            wait_up(f"http://127.0.0.1:{port}/health", web)
            base, base_statuses, _ = asyncio.run(phase(port, args.rate, args.baseline, None, env, 50_000_000))
            pruner = [sys.executable, "-c", PRUNER, str(ROOT), str(db)]
            during, statuses, pruned = asyncio.run(phase(port, args.rate, None, pruner, env, 60_000_000))
        finally:
            web.terminate()
            web.wait(timeout=30)
        left = sqlite3.connect(db).execute(
            "SELECT (SELECT count(*) FROM events WHERE delivery_id LIKE 'old-%'), (SELECT count(*) FROM turns),"
            " (SELECT count(*) FROM outbox), (SELECT count(*) FROM ctx_turns)").fetchone()
    deleted = sum(pruned["counts"].values())
    print(f"webhooks at {args.rate:.0f}/s over 4 connections, ~3 KB signed message_created each")
    print(f"(a) no pruning         : {figures(base)}  answers {base_statuses}")
    print(f"(b) while pruning      : {figures(during)}  answers {statuses}")
    print(f"pruned {deleted} rows in {pruned['seconds']:.1f} s ({deleted / pruned['seconds']:.0f} rows/s) "
          f"{pruned['counts']}; old rows left (events, turns, outbox, memory): {left}")
    p99 = sorted(during)[min(len(during) - 1, int(0.99 * len(during)))]
    print(f"goal: webhook p99 < 50 ms while pruning -> {'met' if p99 < 50 else 'NOT met'} ({p99:.1f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
