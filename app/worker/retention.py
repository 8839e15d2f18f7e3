"""RETENTION_DAYS: the worker deletes what is older, a little at a time, beside its real work.

Deleted once older than the retention:
- answered events (`done`), and poison events (`dead`) whose dead letter was dropped;
- turns, with their outbox rows once every row is settled (sent, skipped, or dead with its
  letter handled);
- the hub's memory of a conversation (`ctx_turns`; the summary, language and state columns of
  `conversations`, cleared — the conversation's row is the worker's and stays);
- dead letters an operator replayed successfully (handled).

Kept whatever their age: events still pending, bookings, dead letters nobody handled (and what
they point at). Each batch is one short transaction on the worker's own connection, with a pause
between batches, so the web's commits never wait long behind it (tests/bench/retention.py
measures webhook latency while 200k rows go).

Rows are walked in id order, which is time order: a walk stops at the first recent row, so a
run with nothing to delete costs one indexed read per table.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

from loguru import logger

from app.store.db import connect, rollback

BATCH = 200  # rows looked at per transaction
PAUSE_S = 0.02  # between transactions: the web's group commit gets the lock
EVERY_S = 600.0
FIRST_AFTER_S = 30.0  # not at the very start: the worker's first turns come first
DAY_S = 86_400.0


def prune(conn: sqlite3.Connection, cutoff: float, *, batch: int = BATCH, pause_s: float = PAUSE_S,
          should_stop: Callable[[], bool] = lambda: False) -> dict[str, int]:
    """Delete what is older than `cutoff` (epoch seconds); the count per table."""
    counts = {"dead_letters": 0, "outbox": 0, "turns": 0, "events": 0, "memory": 0}

    def write(sql: str, params: tuple | list) -> int:
        conn.execute("BEGIN IMMEDIATE")
        try:
            n = conn.execute(sql, params).rowcount
            conn.execute("COMMIT")
        except BaseException:
            rollback(conn)
            raise
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


class Retention:
    """The worker's pruning task: every EVERY_S, in a thread, on its own connection."""

    def __init__(self, db_path: Path, days: int, *, every_s: float = EVERY_S, first_after_s: float = FIRST_AFTER_S):
        self.db_path, self.days = db_path, days
        self.every_s, self.first_after_s = every_s, first_after_s
        self._stop = threading.Event()
        self._failing = False

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        if self.days <= 0:
            return  # RETENTION_DAYS=0: keep everything
        await asyncio.sleep(self.first_after_s)
        while not self._stop.is_set():
            try:
                counts = await asyncio.to_thread(self.prune_once)
            except sqlite3.Error as exc:
                if not self._failing:
                    logger.warning("retention: could not delete old rows: {}; trying again later", exc)
                self._failing = True
            else:
                self._failing = False
                if any(counts.values()):
                    logger.info("retention: deleted rows older than {} days: {}", self.days,
                                ", ".join(f"{k} {v}" for k, v in counts.items() if v))
            await asyncio.sleep(self.every_s)

    def prune_once(self) -> dict[str, int]:
        conn = connect(self.db_path)
        try:
            return prune(conn, time.time() - self.days * DAY_S, should_stop=self._stop.is_set)
        finally:
            conn.close()
