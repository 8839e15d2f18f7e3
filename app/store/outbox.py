"""The outbox: every request a turn implies, recorded with the turn before anything is sent.

A turn's decision, its requests and the "done" mark on the events it answered are committed in
one transaction (`commit_turn`), so a crash before that commit redoes the turn and a crash
after it resumes sending from the outbox — never deciding twice, never posting twice.

Creating a message is not idempotent in Chatwoot's API (`Request.idempotent`). Such rows are
marked `sending` just before the POST and `sent` once settled. A row still `sending` — a crash
while in flight, or an ambiguous answer Chatwoot could not yet be read to settle — may or may not
be in the conversation: the sender looks at what Chatwoot holds before it ever sends it again
(`app/worker/confirm.py`), and dead-letters it only when that cannot be told.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass

from app.chatwoot.api import Request
from app.store.bookings import BookingChange, apply_changes
from app.store.conversations import ConversationState, save
from app.store.db import transaction
from app.store.memory import MemoryUpdate
from app.store.memory import apply as remember


@dataclass(frozen=True)
class OutboxRow:
    id: int
    turn_id: int
    purpose: str
    account_id: int
    conversation_id: int
    state: str
    attempts: int
    next_attempt_at: float
    request: Request

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> OutboxRow:
        body = json.loads(row["body"]) if row["body"] else None
        return cls(
            id=row["id"],
            turn_id=row["turn_id"],
            purpose=row["purpose"],
            account_id=row["account_id"],
            conversation_id=row["conversation_id"],
            state=row["state"],
            attempts=row["attempts"],
            next_attempt_at=row["next_attempt_at"],
            request=Request(row["method"], row["path"], body, row["purpose"]),
        )


@dataclass(frozen=True)
class TurnRecord:
    account_id: int
    conversation_id: int
    event_ids: tuple[int, ...]
    action: str
    intent: str | None
    language: str | None
    reason: str | None
    llm_calls: int
    prompt_tokens: int
    accepted_at: float
    started_at: float
    decided_at: float


def commit_turn(
    conn: sqlite3.Connection,
    turn: TurnRecord | None,
    requests: Sequence[Request],
    done_event_ids: Sequence[int],
    state: ConversationState,
    *,
    memory: Sequence[MemoryUpdate] = (),
    bookings: Sequence[BookingChange] = (),
) -> int | None:
    """One transaction: the turn (if any), its outbox rows, the events marked done, the new state,
    what the conversation's memory gains and the bookings the turn makes or cancels.

    SlotUnavailable when a seat the turn books was taken since it decided: nothing is committed,
    and the worker decides the turn again.
    """
    with transaction(conn):
        turn_id = None
        now = time.time()
        if turn is not None:
            turn_id = conn.execute(
                "INSERT INTO turns (account_id, conversation_id, event_ids, action, intent, language, reason,"
                " llm_calls, prompt_tokens, accepted_at, started_at, decided_at, finished_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    turn.account_id,
                    turn.conversation_id,
                    json.dumps(list(turn.event_ids)),
                    turn.action,
                    turn.intent,
                    turn.language,
                    turn.reason,
                    turn.llm_calls,
                    turn.prompt_tokens,
                    turn.accepted_at,
                    turn.started_at,
                    turn.decided_at,
                    None if requests else now,
                ),
            ).lastrowid
            for seq, request in enumerate(requests):
                conn.execute(
                    "INSERT INTO outbox (turn_id, seq, purpose, account_id, conversation_id, method, path, body)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        turn_id,
                        seq,
                        request.purpose,
                        turn.account_id,
                        turn.conversation_id,
                        request.method,
                        request.path,
                        json.dumps(request.json) if request.json is not None else None,
                    ),
                )
        if done_event_ids:
            conn.executemany(
                "UPDATE events SET state = 'done', turn_id = ?, processed_at = ? WHERE id = ?",
                [(turn_id, now, event_id) for event_id in done_event_ids],
            )
        save(conn, state)
        for update in memory:
            remember(conn, update, now=now)
        apply_changes(conn, bookings)
    return turn_id


def open_rows(conn: sqlite3.Connection, account_id: int, conversation_id: int) -> list[OutboxRow]:
    rows = conn.execute(
        "SELECT * FROM outbox WHERE account_id = ? AND conversation_id = ? AND state IN ('pending', 'sending')"
        " ORDER BY turn_id, seq",
        (account_id, conversation_id),
    ).fetchall()
    return [OutboxRow.from_row(r) for r in rows]


def mark_sending(conn: sqlite3.Connection, row_id: int) -> None:
    conn.execute("UPDATE outbox SET state = 'sending', attempts = attempts + 1 WHERE id = ?", (row_id,))


def mark_sent(conn: sqlite3.Connection, row: OutboxRow, chatwoot_id: int | None) -> None:
    with transaction(conn):
        conn.execute(
            "UPDATE outbox SET state = 'sent', chatwoot_id = ?, sent_at = ?, last_error = NULL,"
            " attempts = CASE WHEN state = 'sending' THEN attempts ELSE attempts + 1 END WHERE id = ?",
            (chatwoot_id, time.time(), row.id),
        )
        _finish_turn_if_done(conn, row.turn_id)


def mark_unsure(conn: sqlite3.Connection, row: OutboxRow, error: str, next_attempt_at: float,
                *, new_round: bool = False) -> None:
    """The outcome of the last attempt is not known yet: the row stays `sending`, so the next
    round looks at Chatwoot before it sends anything. `new_round`: this round only looked (no
    `mark_sending` counted it)."""
    conn.execute(
        "UPDATE outbox SET state = 'sending', last_error = ?, next_attempt_at = ?,"
        " attempts = attempts + ? WHERE id = ?",
        (error, next_attempt_at, 1 if new_round else 0, row.id),
    )


def delivery_evidence(conn: sqlite3.Connection, row: OutboxRow, *, limit: int = 200) -> tuple[frozenset[int], float]:
    """(Chatwoot message ids that existed before `row` was first sent, when its turn was decided).

    The ids: messages whose webhooks arrived before the decision, and what this conversation's
    other rows posted (they went out first: a conversation's rows are sent in order)."""
    decided = conn.execute("SELECT decided_at FROM turns WHERE id = ?", (row.turn_id,)).fetchone()
    since = decided["decided_at"] if decided else 0.0
    ids = conn.execute(
        "SELECT message_id FROM (SELECT message_id FROM events WHERE account_id = ? AND conversation_id = ?"
        "  AND message_id IS NOT NULL AND received_at <= ? ORDER BY id DESC LIMIT ?)"
        " UNION SELECT chatwoot_id FROM (SELECT chatwoot_id FROM outbox WHERE account_id = ?"
        "  AND conversation_id = ? AND chatwoot_id IS NOT NULL AND id != ? ORDER BY id DESC LIMIT ?)",
        (row.account_id, row.conversation_id, since, limit, row.account_id, row.conversation_id, row.id, limit),
    ).fetchall()
    return frozenset(r[0] for r in ids), since


def mark_retry(conn: sqlite3.Connection, row: OutboxRow, error: str, next_attempt_at: float) -> None:
    conn.execute(
        "UPDATE outbox SET state = 'pending', last_error = ?, next_attempt_at = ?,"
        " attempts = CASE WHEN state = 'sending' THEN attempts ELSE attempts + 1 END WHERE id = ?",
        (error, next_attempt_at, row.id),
    )


def mark_skipped(conn: sqlite3.Connection, row: OutboxRow, why: str) -> None:
    with transaction(conn):
        conn.execute("UPDATE outbox SET state = 'skipped', last_error = ? WHERE id = ?", (why, row.id))
        _finish_turn_if_done(conn, row.turn_id)


def dead_letter(conn: sqlite3.Connection, row: OutboxRow, status: int | None, error: str) -> int:
    with transaction(conn):
        conn.execute("UPDATE outbox SET state = 'dead', last_error = ? WHERE id = ?", (error, row.id))
        letter_id = conn.execute(
            "INSERT INTO dead_letters (outbox_id, account_id, conversation_id, purpose, method, path, body,"
            " status, error, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                row.id,
                row.account_id,
                row.conversation_id,
                row.purpose,
                row.request.method,
                row.request.path,
                json.dumps(row.request.json) if row.request.json is not None else None,
                status,
                error,
                time.time(),
            ),
        ).lastrowid
        _finish_turn_if_done(conn, row.turn_id)
    return letter_id


def _finish_turn_if_done(conn: sqlite3.Connection, turn_id: int) -> None:
    conn.execute(
        "UPDATE turns SET finished_at = ? WHERE id = ? AND finished_at IS NULL AND NOT EXISTS"
        " (SELECT 1 FROM outbox WHERE turn_id = ? AND state IN ('pending', 'sending'))",
        (time.time(), turn_id, turn_id),
    )


def list_dead_letters(conn: sqlite3.Connection, *, include_replayed: bool = True) -> list[sqlite3.Row]:
    where = "" if include_replayed else " WHERE replayed_at IS NULL"
    return conn.execute(f"SELECT * FROM dead_letters{where} ORDER BY id").fetchall()  # noqa: S608


def get_dead_letter(conn: sqlite3.Connection, letter_id: int) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM dead_letters WHERE id = ?", (letter_id,)).fetchone()


def mark_replayed(conn: sqlite3.Connection, letter_id: int, result: str) -> None:
    conn.execute(
        "UPDATE dead_letters SET replayed_at = ?, replay_result = ? WHERE id = ?", (time.time(), result, letter_id)
    )


def dead_letter_request(row: sqlite3.Row) -> Request:
    body = json.loads(row["body"]) if row["body"] else None
    return Request(row["method"], row["path"], body, row["purpose"])


def dead_letter_events(conn: sqlite3.Connection, account_id: int, conversation_id: int, up_to_id: int,
                       error: str) -> list[int]:
    """Move a conversation's pending events (up to `up_to_id`) out of the way: its turn failed the
    same way too often. Each becomes a dead letter with the error; the event is kept, marked
    `dead`, so `dead-letters replay` can put it back in the queue."""
    with transaction(conn):
        ids = [row[0] for row in conn.execute(
            "SELECT id FROM events WHERE state = 'pending' AND account_id = ? AND conversation_id = ? AND id <= ?"
            " ORDER BY id",
            (account_id, conversation_id, up_to_id),
        )]
        letters = _dead_letter_event_ids(conn, account_id, conversation_id, ids, error)
    return letters


def dead_letter_event(conn: sqlite3.Connection, account_id: int, conversation_id: int, event_id: int,
                      error: str) -> int:
    """One event that can never be worked (it cannot even be parsed): a dead letter at once."""
    with transaction(conn):
        [letter] = _dead_letter_event_ids(conn, account_id, conversation_id, [event_id], error)
    return letter


def _dead_letter_event_ids(conn: sqlite3.Connection, account_id: int, conversation_id: int, ids: list[int],
                           error: str) -> list[int]:
    now = time.time()
    letters = [
        conn.execute(
            "INSERT INTO dead_letters (event_id, account_id, conversation_id, purpose, error, created_at)"
            " VALUES (?, ?, ?, 'event', ?, ?)",
            (event_id, account_id, conversation_id, error, now),
        ).lastrowid
        for event_id in ids
    ]
    conn.executemany("UPDATE events SET state = 'dead', processed_at = ? WHERE id = ?",
                     [(now, event_id) for event_id in ids])
    return letters


def requeue_event(conn: sqlite3.Connection, letter: sqlite3.Row) -> bool:
    """Replay of a poison event: back to `pending`, for the worker to try again."""
    with transaction(conn):
        moved = conn.execute(
            "UPDATE events SET state = 'pending', processed_at = NULL WHERE id = ? AND state = 'dead'",
            (letter["event_id"],),
        ).rowcount
        conn.execute(
            "UPDATE dead_letters SET replayed_at = ?, replay_result = ? WHERE id = ?",
            (time.time(), "requeued" if moved else "event no longer stored", letter["id"]),
        )
    return bool(moved)


def drop_dead_letter(conn: sqlite3.Connection, letter_id: int) -> bool:
    """An operator handled it (or decided it needs nothing): the letter goes. A dropped event stays
    `dead` in the inbox until retention removes it."""
    return conn.execute("DELETE FROM dead_letters WHERE id = ?", (letter_id,)).rowcount == 1
