"""The store's side of conversations whose turn keeps failing (`app/worker/failures.py` decides
when to retry and when to give up; the failure count itself is `conversations.record_failure`,
`clear_failure` and `failing`)."""

from __future__ import annotations

import sqlite3

from app.store import conversations, outbox


def newest_pending_event(conn: sqlite3.Connection, account_id: int, conversation_id: int) -> int | None:
    """The id of the conversation's newest pending event (None: nothing pending). A failing
    attempt notes it, so only the events that attempt saw can be dead-lettered."""
    return conn.execute(
        "SELECT max(id) FROM events WHERE state = 'pending' AND account_id = ? AND conversation_id = ?",
        (account_id, conversation_id),
    ).fetchone()[0]


def dead_letter_conversation(conn: sqlite3.Connection, account_id: int, conversation_id: int,
                             up_to: int, error: str) -> list[int]:
    """Give up on a conversation's pending events up to event id `up_to` (see
    `newest_pending_event`): each becomes a dead letter with `error`, and the conversation's
    failure count is cleared so it starts afresh. The dead letters' ids."""
    letters = outbox.dead_letter_events(conn, account_id, conversation_id, up_to, error)
    conversations.clear_failure(conn, account_id, conversation_id)
    return letters
