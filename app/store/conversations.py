"""The worker's side of the store: who handles each conversation, leases, turns, heartbeats.

A conversation is worked by one worker slot at a time under a lease. A worker renews the leases
it holds with its heartbeat; a lease whose owner stopped beating is free at once (a crashed
worker's conversations are taken over after HEARTBEAT_DEAD_S, not after the full lease).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass

from app.store.db import transaction

WORKER_MIGRATIONS: Sequence[str] = (
    """
    CREATE TABLE conversations (
        account_id      INTEGER NOT NULL,
        conversation_id INTEGER NOT NULL,
        handler         TEXT NOT NULL DEFAULT 'bot' CHECK (handler IN ('bot', 'human')),
        status          TEXT,
        labels          TEXT NOT NULL DEFAULT '[]',
        contact_name    TEXT,
        inbox_id        INTEGER,
        lease_owner     TEXT,
        lease_expires   REAL,
        updated_at      REAL,
        PRIMARY KEY (account_id, conversation_id)
    );
    CREATE INDEX conversations_leased ON conversations (lease_owner) WHERE lease_owner IS NOT NULL;
    CREATE TABLE turns (
        id              INTEGER PRIMARY KEY,
        account_id      INTEGER NOT NULL,
        conversation_id INTEGER NOT NULL,
        event_ids       TEXT NOT NULL,
        action          TEXT NOT NULL,
        intent          TEXT,
        language        TEXT,
        reason          TEXT,
        llm_calls       INTEGER NOT NULL DEFAULT 0,
        prompt_tokens   INTEGER NOT NULL DEFAULT 0,
        accepted_at     REAL NOT NULL,   -- when the web program stored the newest message
        started_at      REAL NOT NULL,
        decided_at      REAL NOT NULL,
        finished_at     REAL           -- every request of the turn sent (or dead-lettered)
    );
    CREATE INDEX turns_conversation ON turns (account_id, conversation_id, id);
    CREATE TABLE outbox (
        id              INTEGER PRIMARY KEY,
        turn_id         INTEGER NOT NULL REFERENCES turns (id),
        seq             INTEGER NOT NULL,
        purpose         TEXT NOT NULL,
        account_id      INTEGER NOT NULL,
        conversation_id INTEGER NOT NULL,
        method          TEXT NOT NULL,
        path            TEXT NOT NULL,
        body            TEXT,
        state           TEXT NOT NULL DEFAULT 'pending',  -- pending | sending | sent | dead | skipped
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL NOT NULL DEFAULT 0,
        last_error      TEXT,
        chatwoot_id     INTEGER,
        sent_at         REAL,
        UNIQUE (turn_id, purpose)
    );
    CREATE INDEX outbox_open ON outbox (account_id, conversation_id, id) WHERE state IN ('pending', 'sending');
    CREATE TABLE dead_letters (
        id              INTEGER PRIMARY KEY,
        outbox_id       INTEGER NOT NULL REFERENCES outbox (id),
        account_id      INTEGER NOT NULL,
        conversation_id INTEGER NOT NULL,
        purpose         TEXT NOT NULL,
        method          TEXT NOT NULL,
        path            TEXT NOT NULL,
        body            TEXT,
        status          INTEGER,
        error           TEXT NOT NULL,
        created_at      REAL NOT NULL,
        replayed_at     REAL,
        replay_result   TEXT
    );
    CREATE TABLE heartbeats (
        worker      TEXT PRIMARY KEY,
        pid         INTEGER NOT NULL,
        started_at  REAL NOT NULL,
        beat_at     REAL NOT NULL,
        in_flight   INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL DEFAULT 0);
    """,
    # Conversations whose turn keeps failing, and what the worker was doing when it last beat.
    # Dead letters also hold events no turn could work (poison events): outbox_id becomes optional,
    # which SQLite can only do by rebuilding the table.
    """
    ALTER TABLE conversations ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE conversations ADD COLUMN last_error TEXT;
    ALTER TABLE conversations ADD COLUMN retry_at REAL;
    ALTER TABLE heartbeats ADD COLUMN progress_at REAL;
    CREATE TABLE dead_letters_v2 (
        id              INTEGER PRIMARY KEY,
        outbox_id       INTEGER REFERENCES outbox (id),
        event_id        INTEGER,
        account_id      INTEGER NOT NULL,
        conversation_id INTEGER NOT NULL,
        purpose         TEXT NOT NULL,   -- the request's purpose, or 'event' for a poison event
        method          TEXT,
        path            TEXT,
        body            TEXT,
        status          INTEGER,
        error           TEXT NOT NULL,
        created_at      REAL NOT NULL,
        replayed_at     REAL,
        replay_result   TEXT
    );
    INSERT INTO dead_letters_v2 (id, outbox_id, account_id, conversation_id, purpose, method, path, body, status,
        error, created_at, replayed_at, replay_result)
        SELECT id, outbox_id, account_id, conversation_id, purpose, method, path, body, status, error, created_at,
        replayed_at, replay_result FROM dead_letters;
    DROP TABLE dead_letters;
    ALTER TABLE dead_letters_v2 RENAME TO dead_letters;
    CREATE INDEX dead_letters_outbox ON dead_letters (outbox_id) WHERE outbox_id IS NOT NULL;
    CREATE INDEX dead_letters_event ON dead_letters (event_id) WHERE event_id IS NOT NULL;
    CREATE INDEX outbox_turn ON outbox (turn_id);
    """,
)

LEASE_S = 60.0
HEARTBEAT_S = 1.0
HEARTBEAT_DEAD_S = 5.0


@dataclass(frozen=True)
class ConversationState:
    account_id: int
    conversation_id: int
    handler: str  # bot | human
    status: str | None
    labels: tuple[str, ...]
    contact_name: str | None
    inbox_id: int | None


def ensure(conn: sqlite3.Connection, account_id: int, conversation_id: int) -> None:
    conn.execute(
        "INSERT OR IGNORE INTO conversations (account_id, conversation_id, updated_at) VALUES (?, ?, ?)",
        (account_id, conversation_id, time.time()),
    )


def load(conn: sqlite3.Connection, account_id: int, conversation_id: int) -> ConversationState:
    ensure(conn, account_id, conversation_id)
    row = conn.execute(
        "SELECT * FROM conversations WHERE account_id = ? AND conversation_id = ?", (account_id, conversation_id)
    ).fetchone()
    return ConversationState(
        account_id=account_id,
        conversation_id=conversation_id,
        handler=row["handler"],
        status=row["status"],
        labels=tuple(json.loads(row["labels"])),
        contact_name=row["contact_name"],
        inbox_id=row["inbox_id"],
    )


def save(conn: sqlite3.Connection, state: ConversationState) -> None:
    conn.execute(
        "UPDATE conversations SET handler = ?, status = ?, labels = ?, contact_name = ?, inbox_id = ?,"
        " updated_at = ? WHERE account_id = ? AND conversation_id = ?",
        (
            state.handler,
            state.status,
            json.dumps(list(state.labels)),
            state.contact_name,
            state.inbox_id,
            time.time(),
            state.account_id,
            state.conversation_id,
        ),
    )


def pending_events(conn: sqlite3.Connection, account_id: int, conversation_id: int) -> list[sqlite3.Row]:
    """The conversation's stored events not yet worked, in the order the web program stored them
    (id, payload, answerable, received_at)."""
    return conn.execute(
        "SELECT id, payload, answerable, received_at FROM events"
        " WHERE state = 'pending' AND account_id = ? AND conversation_id = ? ORDER BY id",
        (account_id, conversation_id),
    ).fetchall()


def claim(conn: sqlite3.Connection, account_id: int, conversation_id: int, owner: str, now: float) -> bool:
    """Take the conversation's lease if it is free, expired, or held by a worker that stopped beating."""
    ensure(conn, account_id, conversation_id)
    cursor = conn.execute(
        "UPDATE conversations SET lease_owner = ?, lease_expires = ?"
        " WHERE account_id = ? AND conversation_id = ? AND (lease_owner IS NULL OR lease_owner = ?"
        "  OR lease_expires < ? OR lease_owner NOT IN (SELECT worker FROM heartbeats WHERE beat_at > ?))",
        (owner, now + LEASE_S, account_id, conversation_id, owner, now, now - HEARTBEAT_DEAD_S),
    )
    return cursor.rowcount == 1


def release(conn: sqlite3.Connection, account_id: int, conversation_id: int, owner: str) -> None:
    conn.execute(
        "UPDATE conversations SET lease_owner = NULL, lease_expires = NULL"
        " WHERE account_id = ? AND conversation_id = ? AND lease_owner = ?",
        (account_id, conversation_id, owner),
    )


def heartbeat(conn: sqlite3.Connection, owner: str, pid: int, started_at: float, in_flight: int,
              progress_at: float | None = None) -> None:
    """Renew this worker's leases. `progress_at`: when it last finished a conversation or had
    nothing it could take; /ready reads it to tell a stalled worker from a busy one."""
    now = time.time()
    with transaction(conn):
        conn.execute(
            "INSERT INTO heartbeats (worker, pid, started_at, beat_at, in_flight, progress_at)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(worker) DO UPDATE SET beat_at = excluded.beat_at,"
            " in_flight = excluded.in_flight, progress_at = excluded.progress_at",
            (owner, pid, started_at, now, in_flight, now if progress_at is None else progress_at),
        )
        conn.execute("UPDATE conversations SET lease_expires = ? WHERE lease_owner = ?", (now + LEASE_S, owner))
        conn.execute("DELETE FROM heartbeats WHERE beat_at < ?", (now - 3600,))



def stop_beating(conn: sqlite3.Connection, owner: str) -> None:
    conn.execute("DELETE FROM heartbeats WHERE worker = ?", (owner,))
    conn.execute("UPDATE conversations SET lease_owner = NULL, lease_expires = NULL WHERE lease_owner = ?", (owner,))


def record_failure(conn: sqlite3.Connection, account_id: int, conversation_id: int, failures: int,
                   error: str, retry_at: float | None) -> None:
    """What /ready and /metrics show about a conversation whose turn keeps failing."""
    ensure(conn, account_id, conversation_id)
    conn.execute(
        "UPDATE conversations SET failures = ?, last_error = ?, retry_at = ?"
        " WHERE account_id = ? AND conversation_id = ?",
        (failures, error, retry_at, account_id, conversation_id),
    )


def clear_failure(conn: sqlite3.Connection, account_id: int, conversation_id: int) -> None:
    conn.execute(
        "UPDATE conversations SET failures = 0, last_error = NULL, retry_at = NULL"
        " WHERE account_id = ? AND conversation_id = ? AND failures > 0",
        (account_id, conversation_id),
    )


def failing(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    """Conversations whose last turn failed, with the error and the next attempt."""
    return conn.execute(
        "SELECT account_id, conversation_id, failures, last_error, retry_at FROM conversations WHERE failures > 0"
        " ORDER BY account_id, conversation_id"
    ).fetchall()


def latest_heartbeat(conn: sqlite3.Connection) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM heartbeats ORDER BY beat_at DESC LIMIT 1").fetchone()


def bump(conn: sqlite3.Connection, name: str, by: int = 1) -> None:
    conn.execute(
        "INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = value + ?",
        (name, by, by),
    )
