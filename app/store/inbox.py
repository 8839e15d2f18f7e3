"""The inbox: every accepted webhook, stored before the 200 is sent.

The web program writes through `GroupCommitWriter`: requests put their event on a queue and
wait; one writer thread takes whatever is waiting, inserts it in one transaction and commits
once (one fsync for the batch), then wakes every waiter with its own result. Under load the
batches grow on their own; at rest a batch is one event and the latency is one commit.

Deduplication is done by the database: `delivery_id` (X-Chatwoot-Delivery, the same across
Chatwoot's retries) and `dedup_key` ("{account}:{message id}" for message_created, because
Chatwoot also delivers the same message twice under two delivery ids) are UNIQUE, and
`INSERT OR IGNORE` tells us by its row count whether the event was new.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from app.errors import StoreError
from app.store.db import connect, migrate

INBOX_MIGRATIONS: Sequence[str] = (
    """
    CREATE TABLE events (
        id              INTEGER PRIMARY KEY,
        delivery_id     TEXT UNIQUE,
        dedup_key       TEXT UNIQUE,
        account_id      INTEGER,
        conversation_id INTEGER,
        message_id      INTEGER,
        kind            TEXT NOT NULL,
        answerable      INTEGER NOT NULL,
        reason          TEXT,
        payload         TEXT NOT NULL,
        received_at     REAL NOT NULL,
        state           TEXT NOT NULL DEFAULT 'pending',  -- pending | done
        turn_id         INTEGER,
        processed_at    REAL
    );
    CREATE INDEX events_pending ON events (account_id, conversation_id, id) WHERE state = 'pending';
    """,
)

QUEUED, DUPLICATE = "queued", "duplicate"


@dataclass(frozen=True)
class NewEvent:
    kind: str
    payload: str  # the raw body as received (UTF-8 JSON text)
    received_at: float
    answerable: bool
    reason: str | None = None
    delivery_id: str | None = None
    dedup_key: str | None = None
    account_id: int | None = None
    conversation_id: int | None = None
    message_id: int | None = None


_INSERT = (
    "INSERT OR IGNORE INTO events (delivery_id, dedup_key, account_id, conversation_id, message_id,"
    " kind, answerable, reason, payload, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def open_inbox(path: Path, *, check_same_thread: bool = True) -> sqlite3.Connection:
    conn = connect(path, check_same_thread=check_same_thread)
    migrate(conn, "inbox", INBOX_MIGRATIONS)
    return conn


def insert_batch(conn: sqlite3.Connection, events: Sequence[NewEvent]) -> list[str]:
    """Insert in one transaction; QUEUED or DUPLICATE per event. Raises sqlite3.Error on failure."""
    results: list[str] = []
    conn.execute("BEGIN IMMEDIATE")
    try:
        for e in events:
            cursor = conn.execute(
                _INSERT,
                (
                    e.delivery_id,
                    e.dedup_key,
                    e.account_id,
                    e.conversation_id,
                    e.message_id,
                    e.kind,
                    int(e.answerable),
                    e.reason,
                    e.payload,
                    e.received_at,
                ),
            )
            results.append(QUEUED if cursor.rowcount == 1 else DUPLICATE)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return results


def pending_depth(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT count(*) FROM events WHERE state = 'pending' AND answerable = 1").fetchone()[0]


class GroupCommitWriter:
    """One writer thread batching whatever is waiting into a single commit."""

    def __init__(self, path: Path, *, synchronous: str = "NORMAL", max_batch: int = 512):
        self._path = path
        self._synchronous = synchronous
        self._max_batch = max_batch
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inbox-writer")
        self._conn: sqlite3.Connection | None = None
        self._queue: asyncio.Queue[tuple[NewEvent, asyncio.Future[str]] | None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock = threading.Lock()
        self.batches = 0
        self.events = 0

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._conn = await loop.run_in_executor(self._executor, self._open)
        self._queue = asyncio.Queue()
        self._task = asyncio.create_task(self._run(), name="inbox-writer")

    def _open(self) -> sqlite3.Connection:
        conn = open_inbox(self._path, check_same_thread=False)
        # NORMAL in WAL mode: a commit is in the OS once COMMIT returns, so an accepted event
        # survives a killed process (tested with SIGKILL); FULL adds an fsync per batch for
        # power-cut safety (pass synchronous="FULL"; tests/bench/ingest.py measures both).
        conn.execute(f"PRAGMA synchronous={self._synchronous}")
        return conn

    async def store(self, event: NewEvent) -> str:
        """Durably store `event`; QUEUED or DUPLICATE. Raises StoreError when it could not."""
        if self._queue is None or self._task is None or self._task.done():
            raise StoreError("inbox writer is not running")
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        await self._queue.put((event, future))
        return await future

    async def _run(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        while True:
            first = await self._queue.get()
            if first is None:  # stop() was called and everything before it is written
                return
            batch = [first]
            stopping = False
            while len(batch) < self._max_batch and not self._queue.empty():
                item = self._queue.get_nowait()
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            try:
                # The write runs off the loop: a slow disk (a WAL checkpoint) never stalls /health.
                results = await loop.run_in_executor(self._executor, self._write, [e for e, _ in batch])
            except Exception as exc:  # noqa: BLE001 - every waiter must hear about it
                error = StoreError(f"inbox write failed: {type(exc).__name__}: {exc}")
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
            else:
                for (_, future), result in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(result)
            if stopping:
                return

    def _write(self, events: list[NewEvent]) -> list[str]:
        assert self._conn is not None
        results = insert_batch(self._conn, events)
        self.batches += 1
        self.events += len(events)
        return results

    async def stop(self) -> None:
        """Finish what is queued, then close."""
        if self._queue is not None and self._task is not None and not self._task.done():
            await self._queue.put(None)
            await self._task
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await asyncio.get_running_loop().run_in_executor(self._executor, conn.close)
        self._executor.shutdown(wait=True)
