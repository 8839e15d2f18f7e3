"""The worker's questions to the store: open it, and which conversations have work and when.

A conversation has work when it has pending events, or outbox rows due now. The worker's loop
decides what to take (the coalescing window, its slots, its failures); these functions only
answer from the tables. Leases are `conversations.claim` and `release`.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from app.store import conversations
from app.store.db import connect, migrate
from app.store.inbox import INBOX_MIGRATIONS


def open_worker_store(path: Path | str) -> sqlite3.Connection:
    """The worker's connection, with the inbox's and the worker's tables migrated."""
    conn = connect(path)
    # Checkpoint every ~400 KB of WAL rather than SQLite's 4 MB: the web's writer leaves
    # checkpoints to others, and a WAL that only grows is what fills a small disk first (and what
    # a checkpoint after a full disk needs room for). A passive checkpoint of 100 pages is a few ms.
    conn.execute("PRAGMA wal_autocheckpoint=100")
    migrate(conn, "inbox", INBOX_MIGRATIONS)
    migrate(conn, "worker", conversations.WORKER_MIGRATIONS)
    return conn


def conversations_with_work(conn: sqlite3.Connection, now: float) -> list[sqlite3.Row]:
    """Conversations with pending events or outbox rows due at `now`, the longest waiting first.

    Each row: account_id, conversation_id, `newest` and `oldest` (received_at of the newest and
    the oldest pending answerable event; NULL for a row that only has outbox work). A conversation
    can appear twice (events and outbox). One whose earlier request waits for its next attempt is
    left out for its events: they wait with it.
    """
    return conn.execute(
        "SELECT account_id, conversation_id, min(id) AS first,"
        " max(CASE WHEN answerable = 1 THEN received_at END) AS newest,"
        " min(CASE WHEN answerable = 1 THEN received_at END) AS oldest"
        " FROM events e WHERE state = 'pending'"
        "  AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.account_id = e.account_id"
        "   AND o.conversation_id = e.conversation_id AND o.state IN ('pending', 'sending')"
        "   AND o.next_attempt_at > ?)"
        " GROUP BY account_id, conversation_id"
        " UNION ALL"
        " SELECT account_id, conversation_id, 0, NULL, NULL FROM outbox"
        " WHERE state IN ('pending', 'sending') AND next_attempt_at <= ?"
        " ORDER BY first",
        (now, now),
    ).fetchall()


def oldest_pending_message_since(conn: sqlite3.Connection, since: float) -> float | None:
    """When the oldest pending answerable event received after `since` was stored (None: none
    was): the first coalescing window still open ends `window` after it."""
    return conn.execute(
        "SELECT min(received_at) FROM events WHERE state = 'pending' AND answerable = 1 AND received_at > ?",
        (since,),
    ).fetchone()[0]


def next_outbox_attempt(conn: sqlite3.Connection, now: float) -> float | None:
    """The earliest next attempt of an unsent outbox row that is not due yet (None: none waits)."""
    return conn.execute(
        "SELECT min(next_attempt_at) FROM outbox WHERE state IN ('pending', 'sending') AND next_attempt_at > ?",
        (now,),
    ).fetchone()[0]
