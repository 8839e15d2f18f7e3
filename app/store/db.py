"""The one SQLite file under DATA_DIR: connections and versioned migrations.

Every component owns its tables and lists its own migrations (append-only SQL scripts);
`migrate(conn, "inbox", INBOX_MIGRATIONS)` applies the ones a database has not seen yet.
Connections are autocommit (isolation_level=None): a module that needs a transaction opens it
with `with transaction(conn):` (BEGIN IMMEDIATE … COMMIT, rolled back on any exception), so the
lock it takes is visible in the code that takes it, and no block is written by hand.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

DB_FILENAME = "chatwootai.db"

# What code outside app/store/ names when it holds a connection or catches a store failure
# (DatabaseError is SQLite's; app.errors.StoreError is ours, raised by the inbox writer):
# SQL and the sqlite3 module stay inside app/store/ (tests/unit/test_layers.py checks it).
Connection = sqlite3.Connection
Row = sqlite3.Row
DatabaseError = sqlite3.Error  # any failure of the store: locked, full disk, corrupt, not migrated
OperationalError = sqlite3.OperationalError  # the store could not do it now (busy, disk full, no table)


def db_path(data_dir: Path) -> Path:
    return Path(data_dir) / DB_FILENAME


def connect(path: Path | str, *, check_same_thread: bool = True) -> sqlite3.Connection:
    """Open the store: WAL journal, NORMAL sync (durable across process crashes), 5 s busy wait."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    make_private(path)
    conn = sqlite3.connect(path, isolation_level=None, timeout=5.0, check_same_thread=check_same_thread)
    conn.row_factory = sqlite3.Row
    _use_wal(conn)
    # NORMAL in WAL mode survives a killed process (the WAL is in the OS page cache and on disk
    # after write()); only a power loss can drop the last transactions. FULL would fsync per commit.
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


def connect_readonly(path: Path | str, *, timeout: float = 5.0) -> sqlite3.Connection:
    """Open an existing store read-only (doctor, simulate, knowledge check): never creates the
    file, never migrates, never takes a write lock. DatabaseError when it is missing or unreadable."""
    conn = sqlite3.connect(f"file:{Path(path)}?mode=ro", uri=True, timeout=timeout)
    conn.row_factory = sqlite3.Row
    return conn


def make_private(path: Path) -> None:
    """The store holds customers' messages: owner-only (0600). Created here before SQLite opens it,
    because SQLite gives the -wal and -shm files the database file's mode; an older, wider file
    is narrowed."""
    try:
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
        return
    except FileExistsError:
        pass
    for name in (str(path), f"{path}-wal", f"{path}-shm"):
        try:
            if os.stat(name).st_mode & 0o077:
                os.chmod(name, 0o600)
        except OSError:
            continue  # gone meanwhile, or not ours to change: SQLite still opens it


def _use_wal(conn: sqlite3.Connection, *, wait_s: float = 10.0) -> None:
    """Switch a fresh file to WAL. Web and worker start together; on a new file the switch needs
    a lock SQLite does not wait for (no busy handler), so one program got "database is locked"
    at its first start about once in 40. Retry for a while instead."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def migrate(conn: sqlite3.Connection, component: str, migrations: Sequence[str]) -> int:
    """Apply `migrations[v:]` where v is the component's recorded version; return the new version.

    Migrations are append-only: never edit a released one, add a new script instead.
    """
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_versions (component TEXT PRIMARY KEY, version INTEGER NOT NULL)"
    )
    with transaction(conn):
        row = conn.execute(
            "SELECT version FROM schema_versions WHERE component = ?", (component,)
        ).fetchone()
        current = row["version"] if row else 0
        for script in migrations[current:]:
            for statement in _split_statements(script):
                conn.execute(statement)
        conn.execute(
            "INSERT INTO schema_versions (component, version) VALUES (?, ?) "
            "ON CONFLICT(component) DO UPDATE SET version = excluded.version",
            (component, len(migrations)),
        )
    return len(migrations)


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """`with transaction(conn):` — BEGIN IMMEDIATE, COMMIT when the block ends (a `return` inside
    it commits too), ROLLBACK when it raises, and the exception goes on unchanged.

    IMMEDIATE takes the write lock at BEGIN, so a read-then-write inside the block sees current
    data and never fails half way with SQLITE_BUSY. A failed COMMIT (a full disk) is rolled back
    too when SQLite left the transaction open, and its own error is the one raised.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        rollback(conn)
        raise


def rollback(conn: sqlite3.Connection) -> None:
    """Roll back if a transaction is still open. SQLite rolls back by itself on some errors
    (a full disk at COMMIT): a blind ROLLBACK would then raise "no transaction is active" and
    hide the error that matters ("database or disk is full")."""
    if conn.in_transaction:
        conn.execute("ROLLBACK")


def _split_statements(script: str) -> list[str]:
    """Split a script on complete statements (executescript would commit our transaction)."""
    statements, buffer = [], ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        statements.append(buffer.strip())
    return statements


class PerThreadConnection:
    """One connection per thread to the same file: a sqlite3 connection must not be shared
    across threads, and crewai runs our tools in its own threads."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self._local = threading.local()

    def get(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = connect(self.path)
        return conn

    def close(self) -> None:
        """Close this thread's connection (the others close when their thread ends)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
