"""Deleting what is older than RETENTION_DAYS, a little at a time (the worker's `Retention` task
calls `prune`).

Deleted once older than the cutoff:
- answered events (`done`), and poison events (`dead`) whose dead letter was dropped;
- turns, with their outbox rows once every row is settled (sent, skipped, or dead with its
  letter handled);
- the hub's memory of a conversation (`ctx_turns`; the summary, language and state columns of
  `conversations`, cleared — the conversation's row is the worker's and stays);
- dead letters an operator replayed successfully (handled).

Kept whatever their age: events still pending, bookings, dead letters nobody handled (and what
they point at). Each batch is one short transaction, with a pause between batches, so the web's
commits never wait long behind it (tests/bench/retention.py measures webhook latency while 200k
rows go).

Rows are walked in id order, which is time order: a walk stops at the first recent row, so a
run with nothing to delete costs one indexed read per table.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable

from app.store.db import transaction

BATCH = 200  # rows looked at per transaction
PAUSE_S = 0.02  # between transactions: the web's group commit gets the lock


def prune(conn: sqlite3.Connection, cutoff: float, *, batch: int = BATCH, pause_s: float = PAUSE_S,
          should_stop: Callable[[], bool] = lambda: False) -> dict[str, int]:
    """Delete what is older than `cutoff` (epoch seconds); the count per table."""
    counts = {"dead_letters": 0, "outbox": 0, "turns": 0, "events": 0, "memory": 0}

    def write(sql: str, params: tuple | list) -> int:
        with transaction(conn):
            n = conn.execute(sql, params).rowcount
        if pause_s:
            time.sleep(pause_s)
        return n

    # Handled dead letters first: the outbox rows they held become deletable below.
    while not should_stop():
        n = write("DELETE FROM dead_letters WHERE id IN (SELECT id FROM dead_letters WHERE replayed_at < ?"
                  " AND replay_result IN ('sent', 'requeued') LIMIT ?)", (cutoff, batch))
        counts["dead_letters"] += n
        if n < batch:
            break

    last = 0
    while not should_stop():
        rows = conn.execute("SELECT id, decided_at, finished_at FROM turns WHERE id > ? ORDER BY id LIMIT ?",
                            (last, batch)).fetchall()
        old = [r["id"] for r in rows if r["decided_at"] < cutoff and r["finished_at"] is not None]
        if old:
            marks = ",".join("?" * len(old))
            counts["outbox"] += write(
                f"DELETE FROM outbox WHERE turn_id IN ({marks}) AND state IN ('sent', 'skipped', 'dead')"
                " AND NOT EXISTS (SELECT 1 FROM dead_letters d WHERE d.outbox_id = outbox.id)", old)
            counts["turns"] += write(
                f"DELETE FROM turns WHERE id IN ({marks})"
                " AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.turn_id = turns.id)", old)
        if len(rows) < batch or any(r["decided_at"] >= cutoff for r in rows):
            break
        last = rows[-1]["id"]

    last = 0
    while not should_stop():
        rows = conn.execute("SELECT id, received_at, state FROM events WHERE id > ? ORDER BY id LIMIT ?",
                            (last, batch)).fetchall()
        old = [r["id"] for r in rows if r["received_at"] < cutoff and r["state"] in ("done", "dead")]
        if old:
            counts["events"] += write(
                f"DELETE FROM events WHERE id IN ({','.join('?' * len(old))})"
                " AND NOT EXISTS (SELECT 1 FROM dead_letters d WHERE d.event_id = events.id)", old)
        if len(rows) < batch or any(r["received_at"] >= cutoff for r in rows):
            break
        last = rows[-1]["id"]

    try:
        last = 0
        while not should_stop():
            rows = conn.execute("SELECT id, at FROM ctx_turns WHERE id > ? ORDER BY id LIMIT ?",
                                (last, batch)).fetchall()
            old = [r["id"] for r in rows if r["at"] < cutoff]
            if old:
                counts["memory"] += write(f"DELETE FROM ctx_turns WHERE id IN ({','.join('?' * len(old))})", old)
            if len(rows) < batch or len(old) < len(rows):
                break
            last = rows[-1]["id"]
        while not should_stop():
            n = write("UPDATE conversations SET summary = '', language = NULL, state = '{}', memory_at = NULL"
                      " WHERE rowid IN (SELECT rowid FROM conversations WHERE memory_at < ? LIMIT ?)", (cutoff, batch))
            counts["memory"] += n
            if n < batch:
                break
    except sqlite3.OperationalError as exc:
        if "no such table" not in str(exc) and "no such column" not in str(exc):
            raise  # the hub never ran against this store: it has no memory to forget
    return counts
