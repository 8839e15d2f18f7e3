"""Two programs opening a fresh store at the same instant (issue 7, first-start races).

On a new file the switch to WAL needs a lock SQLite does not wait for: the web or the worker
failed with "database is locked" at its first start about once in 40. Both now retry it."""

from __future__ import annotations

import multiprocessing
import traceback
from pathlib import Path

# imported here, before the fork, so each round costs process creation and SQLite only
from app.store.conversations import WORKER_MIGRATIONS
from app.store.db import connect, migrate
from app.store.inbox import INBOX_MIGRATIONS
from app.store.knowledge import KnowledgeBase

ROUNDS = 120


def _open_and_migrate(path: str, barrier, results, role: str) -> None:
    try:
        barrier.wait(timeout=30)
        conn = connect(Path(path))
        migrate(conn, "inbox", INBOX_MIGRATIONS)
        if role == "worker":
            migrate(conn, "worker", WORKER_MIGRATIONS)
            KnowledgeBase.migrate(conn)
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        conn.close()
        results.put(f"ok {mode}")
    except Exception:  # noqa: BLE001 - reported to the parent
        results.put(traceback.format_exc(limit=3))


def test_web_and_worker_opening_a_fresh_store_at_once_both_succeed(tmp_path):
    ctx = multiprocessing.get_context("fork")
    failures = []
    for round_ in range(ROUNDS):
        path = str(tmp_path / f"r{round_}" / "chatwootai.db")
        barrier, results = ctx.Barrier(2), ctx.Queue()
        procs = [ctx.Process(target=_open_and_migrate, args=(path, barrier, results, role)) for role in ("web", "worker")]
        for p in procs:
            p.start()
        outcomes = [results.get(timeout=60) for _ in procs]
        for p in procs:
            p.join(timeout=30)
        failures += [o for o in outcomes if o != "ok wal"]
    print(f"first opens: {ROUNDS} rounds of 2 programs, failures {len(failures)}")
    assert failures == []
