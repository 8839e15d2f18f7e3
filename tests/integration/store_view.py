"""A read-only look at the appliance's store, so a test waits on facts instead of sleeping.

"Nothing was sent" is only a fact once the worker has finished with everything it was given:
every stored event of the conversation worked (not pending), every request of its turns out of
the outbox (sent, dead or skipped), every turn finished, and no worker holding its lease (the
typing indicator goes off after the outbox is flushed, before the lease is released). Then any
reply the worker was ever going to send has been sent, and the test can assert on the absence.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from app.store.db import db_path


def open_read_only(data_dir: Path) -> sqlite3.Connection:
    """The store file opened read-only: a test that looks can never change what it looks at."""
    conn = sqlite3.connect(f"file:{db_path(data_dir)}?mode=ro", uri=True, timeout=5.0)
    conn.row_factory = sqlite3.Row
    return conn


def unfinished(conn: sqlite3.Connection, conversation_id: int, account_id: int = 1) -> list[str]:
    """What the worker still has to do for a conversation; empty when it is done with it."""
    key = (account_id, conversation_id)
    left = []
    pending = _count(conn, "SELECT count(*) FROM events WHERE account_id = ? AND conversation_id = ?"
                     " AND state = 'pending'", key)
    if pending:
        left.append(f"{pending} event(s) pending")
    unsent = _count(conn, "SELECT count(*) FROM outbox WHERE account_id = ? AND conversation_id = ?"
                    " AND state IN ('pending', 'sending')", key)
    if unsent:
        left.append(f"{unsent} request(s) in the outbox")
    open_turns = _count(conn, "SELECT count(*) FROM turns WHERE account_id = ? AND conversation_id = ?"
                        " AND finished_at IS NULL", key)
    if open_turns:
        left.append(f"{open_turns} turn(s) not finished")
    leased = _count(conn, "SELECT count(*) FROM conversations WHERE account_id = ? AND conversation_id = ?"
                    " AND lease_owner IS NOT NULL", key)
    if leased:
        left.append("a worker holds its lease")
    return left


def wait_worked(data_dir: Path, *conversation_ids: int, timeout: float = 20.0, worker_output=None) -> None:
    """Return once the worker is done with every given conversation; fail naming what is left."""
    deadline = time.monotonic() + timeout
    conn = open_read_only(data_dir)
    try:
        while True:
            left = {c: unfinished(conn, c) for c in conversation_ids}
            left = {c: what for c, what in left.items() if what}
            if not left:
                return
            if time.monotonic() > deadline:
                tail = f"\nworker output:\n{worker_output()[-3000:]}" if worker_output else ""
                raise AssertionError(f"the worker did not finish within {timeout:.0f} s: {left}{tail}")
            time.sleep(0.02)
    finally:
        conn.close()


def _count(conn: sqlite3.Connection, sql: str, params: tuple) -> int:
    try:
        return conn.execute(sql, params).fetchone()[0]
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return 0  # the worker has not created its tables yet: it holds nothing either
        raise
