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
from pathlib import Path
from typing import NamedTuple

from loguru import logger

from app.errors import StoreError
from app.store.db import connect, migrate, transaction

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


class NewEvent(NamedTuple):
    """One webhook to store. A tuple whose fields are in `_INSERT`'s column order, so a batch is
    bound as it is, with no per-row conversion (the door builds one per request)."""

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


_COLUMNS = ("kind, payload, received_at, answerable, reason, delivery_id, dedup_key, account_id, conversation_id,"
            " message_id")
_INSERT = f"INSERT OR IGNORE INTO events ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"


def open_inbox(path: Path, *, check_same_thread: bool = True) -> sqlite3.Connection:
    conn = connect(path, check_same_thread=check_same_thread)
    migrate(conn, "inbox", INBOX_MIGRATIONS)
    return conn


def insert_batch(conn: sqlite3.Connection, events: Sequence[NewEvent]) -> list[str]:
    """Insert in one transaction; QUEUED or DUPLICATE per event. Raises sqlite3.Error on failure.

    The common batch holds no duplicate: one executemany, and the change count says so. When it
    does not add up, the rows this transaction inserted (the newest ids: new rowids are max + 1,
    and the write lock is ours) are read back and matched in order against the batch: `INSERT OR
    IGNORE` keeps the order, so the inserted rows are the batch minus the ignored ones.
    """
    with transaction(conn):
        before = conn.total_changes
        conn.executemany(_INSERT, events)
        inserted = conn.total_changes - before
        if inserted == len(events):
            return [QUEUED] * len(events)
        rows = conn.execute(f"SELECT {_COLUMNS} FROM events ORDER BY id DESC LIMIT ?", (inserted,)).fetchall()
    stored = iter(reversed(rows))
    expected = next(stored, None)
    results = []
    for event in events:
        if expected is not None and tuple(expected) == event:
            results.append(QUEUED)
            expected = next(stored, None)
        else:
            results.append(DUPLICATE)
    return results


def _store_error(exc: Exception) -> StoreError:
    return StoreError(f"inbox write failed: {type(exc).__name__}: {exc}")


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
                 checkpoint_every: int = 4000, on_stored: Callable[[], None] | None = None):
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
        self.retried_batches = 0  # batches that failed whole and were retried row by row
        # Called after each commit with the batch and its results (QUEUED/DUPLICATE/StoreError):
        # the door writes its log lines there, once per batch.
        self.on_commit: Callable[[list[tuple[NewEvent, asyncio.Future[str]]], list], None] | None = None
        # /ready: the last commit that failed because the store could not write, and the last
        # one that worked. A row the store refuses (a bad value) is not a store failure.
        self.write_failed_at: float | None = None
        self.write_error: str | None = None
        self.write_ok_at: float | None = None
        self._on_stored = on_stored  # wakes the worker when something was stored
        self._write_failure: sqlite3.OperationalError | None = None  # seen during this flush

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
        self._write_failure = None
        try:
            results: list[str | StoreError] = list(insert_batch(self._conn, [e for e, _ in batch]))
        except Exception as exc:  # noqa: BLE001 - every waiter must hear about it
            if isinstance(exc, sqlite3.OperationalError):
                self._write_failure = exc
            if len(batch) == 1:
                results = [_store_error(exc)]
            else:
                # One bad row must not fail the others that shared its transaction: the batch was
                # rolled back whole, so each row is tried again on its own and only the rows that
                # fail alone get an error (a full disk fails them all, as it should).
                self.retried_batches += 1
                results = [self._insert_one(e) for e, _ in batch]
                failed = sum(1 for r in results if isinstance(r, StoreError))
                logger.warning("inbox batch of {} failed ({}: {}); retried row by row: {} stored, {} failed",
                               len(batch), type(exc).__name__, exc, len(batch) - failed, failed)
        self.batches += 1
        written = sum(1 for r in results if not isinstance(r, StoreError))
        self.events += written
        if written:
            self.write_ok_at = time.time()
            if self._on_stored is not None:
                self._on_stored()
        elif self._write_failure is not None:
            self.write_failed_at, self.write_error = time.time(), str(self._write_failure)
        if self.on_commit is not None:
            try:
                self.on_commit(batch, results)
            except Exception as exc:  # noqa: BLE001 - a hook must never cost a stored event its answer
                logger.warning("inbox commit hook failed: {}", exc)
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():
                continue
            if isinstance(result, StoreError):
                future.set_exception(result)
            else:
                future.set_result(result)
        self._writes_since_checkpoint += written
        if self._writes_since_checkpoint >= self._checkpoint_every and self._checkpointing is None:
            self._writes_since_checkpoint = 0
            self._checkpointing = asyncio.get_running_loop().run_in_executor(self._executor, self._checkpoint)
            self._checkpointing.add_done_callback(self._checkpoint_done)

    def _insert_one(self, event: NewEvent) -> str | StoreError:
        assert self._conn is not None
        try:
            return insert_batch(self._conn, (event,))[0]
        except Exception as exc:  # noqa: BLE001 - the row's own waiter hears about it
            if isinstance(exc, sqlite3.OperationalError):
                self._write_failure = exc
            return _store_error(exc)

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
            with transaction(conn):
                cursor = conn.execute(
                    "INSERT INTO events (kind, answerable, payload, received_at, state)"
                    " VALUES ('probe', 0, ?, 0, 'probe')", ("x" * 4096,))
                conn.execute("DELETE FROM events WHERE id = ?", (cursor.lastrowid,))
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
