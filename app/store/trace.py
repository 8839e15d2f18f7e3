"""Following one message through the store, read-only: its event, the lease on its
conversation, its turn and the turn's outbox rows (`chatwootai simulate` and `demo` print them
as they happen). Each answers from what is committed now; none ever writes."""

from __future__ import annotations

import sqlite3


def event_by_dedup_key(conn: sqlite3.Connection, dedup_key: str) -> sqlite3.Row | None:
    """The stored event for `account:message` (id, state, turn_id, received_at), or None while
    the web has not stored it."""
    return conn.execute("SELECT id, state, turn_id, received_at FROM events WHERE dedup_key = ?",
                        (dedup_key,)).fetchone()


def lease_owner(conn: sqlite3.Connection, account_id: int, conversation_id: int) -> str | None:
    """The worker holding the conversation's lease now (None: nobody works it)."""
    row = conn.execute("SELECT lease_owner FROM conversations WHERE account_id = ? AND conversation_id = ?"
                       " AND lease_owner IS NOT NULL", (account_id, conversation_id)).fetchone()
    return row["lease_owner"] if row else None


def turn(conn: sqlite3.Connection, turn_id: int) -> sqlite3.Row | None:
    """The turn with every column (intent, action, reason, LLM calls, its timestamps)."""
    return conn.execute("SELECT * FROM turns WHERE id = ?", (turn_id,)).fetchone()


def turn_requests(conn: sqlite3.Connection, turn_id: int | None) -> list[sqlite3.Row]:
    """The turn's outbox rows in the order they are sent: id, purpose, body, state, last_error,
    chatwoot_id, sent_at."""
    return conn.execute("SELECT id, purpose, body, state, last_error, chatwoot_id, sent_at FROM outbox"
                        " WHERE turn_id = ? ORDER BY seq", (turn_id,)).fetchall()
