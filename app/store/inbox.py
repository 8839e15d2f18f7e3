"""The inbox: every accepted webhook, stored before the 200 is sent.

The web program writes through `GroupCommitWriter`: every request of one event-loop iteration
adds its event to a batch and waits; the batch is inserted in one transaction and committed
once, then every waiter is woken with its own result. Under load the batches grow on their own
(group commit); at rest a batch is one event and the latency is one commit.

Deduplication is done by the database: `delivery_id` (X-Chatwoot-Delivery, the same across
Chatwoot's retries) and `dedup_key` ("{account}:{message id}" for message_created, because
Chatwoot also delivers the same message twice under two delivery ids) are UNIQUE, and
`INSERT OR IGNORE` tells us by its row count whether the event was new.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from loguru import logger

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


class GroupCommitWriter:
    """Group commit on the event loop: one commit per loop iteration for everything waiting.

    A request appends its event and awaits a future; the first one of an iteration schedules a
    flush with `call_soon`, which runs after every request that arrived in the same iteration
    has appended its own. The flush is one short synchronous transaction: in WAL mode with
    synchronous=NORMAL a commit is an append to the WAL, no fsync. The WAL checkpoint (which does
    fsync) is taken off this connection (`wal_autocheckpoint=0`) and done by `checkpoint()` off the
    loop, so the door never waits for the disk to flush.
    """

    def __init__(self, path: Path, *, synchronous: str = "NORMAL", max_batch: int = 512,
                 checkpoint_every: int = 4000, on_commit: Callable[[], None] | None = None):
        self._path = path
        self._synchronous = synchronous
        self._max_batch = max_batch
        self._checkpoint_every = checkpoint_every  # events written between two checkpoints
        self._conn: sqlite3.Connection | None = None
        self._pending: list[tuple[NewEvent, asyncio.Future[str]]] = []
        self._scheduled = False
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inbox-checkpoint")
        self._checkpointing: asyncio.Future | None = None
        self._writes_since_checkpoint = 0
        self.batches = 0
        self.events = 0
        # /ready: the last commit that failed because the store could not write, and the last
        # one that worked. A row the store refuses (a bad value) is not a store failure.
        self.write_failed_at: float | None = None
        self.write_error: str | None = None
        self.write_ok_at: float | None = None
        self._on_commit = on_commit  # wakes the worker

    @property
    def running(self) -> bool:
        return self._conn is not None

    async def start(self) -> None:
        conn = open_inbox(self._path, check_same_thread=False)
        conn.execute(f"PRAGMA synchronous={self._synchronous}")
        conn.execute("PRAGMA wal_autocheckpoint=0")
        self._conn = conn

    async def store(self, event: NewEvent) -> str:
        """Durably store `event`; QUEUED or DUPLICATE. Raises StoreError when it could not."""
        if self._conn is None:
            raise StoreError("inbox writer is not running")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[str] = loop.create_future()
        self._pending.append((event, future))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        self._scheduled = False
        batch, self._pending = self._pending[: self._max_batch], self._pending[self._max_batch :]
        if self._pending:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)
        if not batch or self._conn is None:
            return
        try:
            results = insert_batch(self._conn, [e for e, _ in batch])
        except Exception as exc:  # noqa: BLE001 - every waiter must hear about it
            if isinstance(exc, sqlite3.OperationalError):
                self.write_failed_at, self.write_error = time.time(), str(exc)
            error = StoreError(f"inbox write failed: {type(exc).__name__}: {exc}")
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
            return
        self.batches += 1
        self.events += len(batch)
        self.write_ok_at = time.time()
        if self._on_commit is not None:
            self._on_commit()
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)
        self._writes_since_checkpoint += len(batch)
        if self._writes_since_checkpoint >= self._checkpoint_every and self._checkpointing is None:
            self._writes_since_checkpoint = 0
            self._checkpointing = asyncio.get_running_loop().run_in_executor(self._executor, self._checkpoint)
            self._checkpointing.add_done_callback(self._checkpoint_done)

    def _checkpoint_done(self, future: asyncio.Future) -> None:
        self._checkpointing = None
        if not future.cancelled() and future.exception() is not None:
            # Not fatal: the WAL keeps the data; the next checkpoint (or the worker's) catches up.
            logger.warning("inbox checkpoint failed: {}", future.exception())

    def _checkpoint(self) -> None:
        # Its own connection: a PASSIVE checkpoint copies WAL pages into the database and fsyncs,
        # without blocking writers; the WAL is then reused from the start.
        conn = connect(self._path)
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            conn.close()

    @property
    def cannot_write(self) -> bool:
        """The last store failure is newer than the last successful commit."""
        return self.write_failed_at is not None and (self.write_ok_at or 0.0) < self.write_failed_at

    def probe(self) -> bool:
        """While the last commit failed: one write transaction the size of a webhook, rolled into
        nothing (insert, delete, commit). True when the store writes again."""
        if self._conn is None:
            return False
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                cursor = conn.execute(
                    "INSERT INTO events (kind, answerable, payload, received_at, state)"
                    " VALUES ('probe', 0, ?, 0, 'probe')", ("x" * 4096,))
                conn.execute("DELETE FROM events WHERE id = ?", (cursor.lastrowid,))
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            self.write_failed_at, self.write_error = time.time(), str(exc)
            return False
        self.write_ok_at = time.time()
        return True

    async def stop(self) -> None:
        """Write what is waiting, checkpoint, close."""
        while self._pending:
            self._flush()
        if self._checkpointing is not None:
            await self._checkpointing
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            conn.close()
        self._executor.shutdown(wait=True)
