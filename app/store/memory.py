"""Conversation memory: what was said, kept in the store (docs/architecture.md#hub-and-crews).

A Chatwoot agent-bot token cannot list a conversation's messages, so the appliance remembers
what was said itself: the last `max_recent` messages verbatim (`ctx_turns`), everything older
folded into a bounded rolling summary (no LLM: the first words of each folded message), plus the
conversation's language and a free JSON `state` the responders use (e.g. the slots just
offered). The summary, language and state are columns of the one `conversations` table; the
customer's name is its `contact_name`.

The hub never writes here while it decides: it returns a `MemoryUpdate` with its decision, and
`outbox.commit_turn` applies it in the turn's transaction (`apply`), so a turn redone after a
crash records nothing twice.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from app.store.conversations import WORKER_MIGRATIONS, ensure
from app.store.db import Connection, PerThreadConnection, migrate, transaction

# The "context" component's migrations (it was the hub's ContextManager before the store took it).
MEMORY_MIGRATIONS = [
    """
    CREATE TABLE ctx_conversations (
        account_id INTEGER NOT NULL,
        conversation_id INTEGER NOT NULL,
        summary TEXT NOT NULL DEFAULT '',
        customer_name TEXT,
        language TEXT,
        state TEXT NOT NULL DEFAULT '{}',
        updated_at REAL NOT NULL,
        PRIMARY KEY (account_id, conversation_id)
    );
    CREATE TABLE ctx_turns (
        id INTEGER PRIMARY KEY,
        account_id INTEGER NOT NULL,
        conversation_id INTEGER NOT NULL,
        role TEXT NOT NULL CHECK (role IN ('customer', 'bot', 'agent')),
        text TEXT NOT NULL,
        at REAL NOT NULL
    );
    CREATE INDEX ctx_turns_by_conversation ON ctx_turns (account_id, conversation_id, id);
    """,
    # A turn redone after a crash records its customer messages again: once per Chatwoot id.
    """
    ALTER TABLE ctx_turns ADD COLUMN message_id INTEGER;
    CREATE UNIQUE INDEX ctx_turns_message ON ctx_turns (account_id, conversation_id, message_id)
        WHERE message_id IS NOT NULL;
    """,
    # One conversation table: the memory's columns move into `conversations` (the worker's), the
    # customer's name is its contact_name (both came from Chatwoot's contact), and
    # ctx_conversations goes. `memory_at`: when the memory last changed (retention forgets it).
    """
    ALTER TABLE conversations ADD COLUMN summary TEXT NOT NULL DEFAULT '';
    ALTER TABLE conversations ADD COLUMN language TEXT;
    ALTER TABLE conversations ADD COLUMN state TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE conversations ADD COLUMN memory_at REAL;
    INSERT INTO conversations (account_id, conversation_id, updated_at)
        SELECT account_id, conversation_id, updated_at FROM ctx_conversations WHERE true
        ON CONFLICT (account_id, conversation_id) DO NOTHING;
    UPDATE conversations SET
        summary = (SELECT x.summary FROM ctx_conversations x WHERE x.account_id = conversations.account_id
                   AND x.conversation_id = conversations.conversation_id),
        language = (SELECT x.language FROM ctx_conversations x WHERE x.account_id = conversations.account_id
                    AND x.conversation_id = conversations.conversation_id),
        state = (SELECT x.state FROM ctx_conversations x WHERE x.account_id = conversations.account_id
                 AND x.conversation_id = conversations.conversation_id),
        memory_at = (SELECT x.updated_at FROM ctx_conversations x WHERE x.account_id = conversations.account_id
                     AND x.conversation_id = conversations.conversation_id),
        contact_name = COALESCE(contact_name, (SELECT x.customer_name FROM ctx_conversations x
                                               WHERE x.account_id = conversations.account_id
                                               AND x.conversation_id = conversations.conversation_id))
        WHERE EXISTS (SELECT 1 FROM ctx_conversations x WHERE x.account_id = conversations.account_id
                      AND x.conversation_id = conversations.conversation_id);
    DROP TABLE ctx_conversations;
    """,
]

ROLES = ("customer", "bot", "agent")
MAX_RECENT = 10
SUMMARY_MAX_CHARS = 1200  # keeps the handoff note and any prompt that includes it short
FOLDED_TURN_CHARS = 100


def migrate_memory(conn: Connection) -> None:
    """The memory's columns live in `conversations`: the worker's tables first, in any start order."""
    migrate(conn, "worker", WORKER_MIGRATIONS)
    migrate(conn, "context", MEMORY_MIGRATIONS)


class ContextTurn(NamedTuple):
    role: str
    text: str
    at: float  # epoch seconds


@dataclass(frozen=True)
class Context:
    account_id: int
    conversation_id: int
    recent: tuple[ContextTurn, ...] = ()
    summary: str = ""
    customer_name: str | None = None
    language: str | None = None
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def conversation_key(self) -> str:
        return f"{self.account_id}:{self.conversation_id}"

    def transcript(self) -> str:
        """Summary and recent turns as plain text, for a prompt or a handoff note."""
        lines = [f"(earlier) {self.summary}"] if self.summary else []
        lines += [f"{t.role}: {t.text}" for t in self.recent]
        return "\n".join(lines)


@dataclass(frozen=True)
class Remembered:
    """One message to remember; with Chatwoot's `message_id`, remembering it again changes nothing."""

    role: str
    text: str
    message_id: int | None = None


@dataclass(frozen=True)
class MemoryUpdate:
    """What one turn adds to a conversation's memory. None leaves a field as it is; `state`
    replaces the whole dict."""

    account_id: int
    conversation_id: int
    messages: tuple[Remembered, ...] = ()
    language: str | None = None
    state: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        for message in self.messages:
            if message.role not in ROLES:
                raise ValueError(f"role must be one of {ROLES}, got {message.role!r}")


def fold_into_summary(summary: str, turns: list[ContextTurn], max_chars: int = SUMMARY_MAX_CHARS) -> str:
    """Append one short line per folded turn; beyond `max_chars` the oldest lines go first.

    The first words of a message carry most of its topic ("quanto custa o sérum…"), which is
    what a human taking over or a later turn needs; whole transcripts would grow without bound.
    """
    lines = [line for line in summary.split("\n") if line and line != "…"]
    for turn in turns:
        text = " ".join(turn.text.split())
        if len(text) > FOLDED_TURN_CHARS:
            text = text[: FOLDED_TURN_CHARS - 1].rstrip() + "…"
        if text:
            lines.append(f"{turn.role}: {text}")
    dropped = False
    while lines and len("\n".join(lines)) > max_chars:
        lines.pop(0)
        dropped = True
    return "\n".join((["…"] if dropped else []) + lines)


def load(conn: Connection, account_id: int, conversation_id: int) -> Context:
    row = conn.execute(
        "SELECT summary, contact_name, language, state FROM conversations"
        " WHERE account_id = ? AND conversation_id = ?",
        (account_id, conversation_id),
    ).fetchone()
    turns = conn.execute(
        "SELECT role, text, at FROM ctx_turns WHERE account_id = ? AND conversation_id = ? ORDER BY id",
        (account_id, conversation_id),
    ).fetchall()
    recent = tuple(ContextTurn(t["role"], t["text"], t["at"]) for t in turns)
    if row is None:
        return Context(account_id, conversation_id, recent)
    return Context(account_id, conversation_id, recent, summary=row["summary"], customer_name=row["contact_name"],
                   language=row["language"], state=json.loads(row["state"]))


def apply(conn: Connection, update: MemoryUpdate, *, now: float | None = None, max_recent: int = MAX_RECENT) -> None:
    """Write `update` inside the caller's transaction (outbox.commit_turn's)."""
    now = time.time() if now is None else now
    a, c = update.account_id, update.conversation_id
    ensure(conn, a, c)
    inserted = 0
    for message in update.messages:
        if message.text and message.text.strip():
            inserted += conn.execute(
                "INSERT OR IGNORE INTO ctx_turns (account_id, conversation_id, role, text, at, message_id)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (a, c, message.role, message.text, now, message.message_id),
            ).rowcount
    if inserted:
        _fold(conn, a, c, now, max_recent)
    if inserted or update.language is not None or update.state is not None:
        state = json.dumps(update.state, ensure_ascii=False, default=str) if update.state is not None else None
        conn.execute(
            "UPDATE conversations SET language = COALESCE(?, language), state = COALESCE(?, state), memory_at = ?"
            " WHERE account_id = ? AND conversation_id = ?",
            (update.language, state, now, a, c),
        )


def _fold(conn: Connection, a: int, c: int, now: float, max_recent: int) -> None:
    """The oldest messages beyond `max_recent` go into the summary."""
    rows = conn.execute(
        "SELECT id, role, text, at FROM ctx_turns WHERE account_id = ? AND conversation_id = ? ORDER BY id", (a, c)
    ).fetchall()
    overflow = rows[: max(0, len(rows) - max_recent)]
    if not overflow:
        return
    summary = conn.execute(
        "SELECT summary FROM conversations WHERE account_id = ? AND conversation_id = ?", (a, c)
    ).fetchone()["summary"]
    summary = fold_into_summary(summary, [ContextTurn(r["role"], r["text"], r["at"]) for r in overflow])
    conn.execute("UPDATE conversations SET summary = ? WHERE account_id = ? AND conversation_id = ?",
                 (summary, a, c))
    conn.executemany("DELETE FROM ctx_turns WHERE id = ?", [(r["id"],) for r in overflow])


class MemoryStore:
    """Memory on its own connection (one per thread): the hub's reads, and writes outside a turn."""

    def __init__(self, db_path: Path, *, max_recent: int = MAX_RECENT, clock: Callable[[], float] = time.time):
        if max_recent < 1:
            raise ValueError("max_recent must be at least 1")
        self.db_path = Path(db_path)
        self.max_recent = max_recent
        self._clock = clock
        self._connections = PerThreadConnection(self.db_path)
        migrate_memory(self._connections.get())

    def load(self, account_id: int, conversation_id: int) -> Context:
        return load(self._connections.get(), account_id, conversation_id)

    def apply(self, updates: Sequence[MemoryUpdate]) -> None:
        conn = self._connections.get()
        with transaction(conn):
            for update in updates:
                apply(conn, update, now=self._clock(), max_recent=self.max_recent)

    def record(self, account_id: int, conversation_id: int, role: str, text: str, *,
               message_id: int | None = None) -> None:
        """Remember one message at once (tests, tools); a turn's messages go through commit_turn."""
        self.apply([MemoryUpdate(account_id, conversation_id, (Remembered(role, text, message_id),))])

    def close(self) -> None:
        """Close this thread's connection (others close when their thread ends)."""
        self._connections.close()
