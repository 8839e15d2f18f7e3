"""ContextManager: conversation memory in the local store (docs/architecture.md#hub-and-crews).

A Chatwoot agent-bot token cannot list a conversation's messages, so the appliance remembers
what was said itself: the last `max_recent` turns verbatim, everything older folded into a
bounded rolling summary (no LLM: the first words of each folded turn), plus the customer's
name, language and a free JSON `state` the responders use (e.g. the slots just offered).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from app.store.db import PerThreadConnection, migrate

CONTEXT_MIGRATIONS = [
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
]

ROLES = ("customer", "bot", "agent")
SUMMARY_MAX_CHARS = 1200  # keeps the handoff note and any prompt that includes it short
FOLDED_TURN_CHARS = 100


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


class ContextManager:
    def __init__(self, db_path: Path, *, max_recent: int = 10, clock: Callable[[], float] = time.time):
        if max_recent < 1:
            raise ValueError("max_recent must be at least 1")
        self.db_path = Path(db_path)
        self.max_recent = max_recent
        self._clock = clock
        self._connections = PerThreadConnection(self.db_path)
        migrate(self._conn(), "context", CONTEXT_MIGRATIONS)

    def _conn(self) -> sqlite3.Connection:
        return self._connections.get()

    def close(self) -> None:
        """Close this thread's connection (others close when their thread ends)."""
        self._connections.close()

    def load(self, account_id: int, conversation_id: int) -> Context:
        conn = self._conn()
        row = conn.execute(
            "SELECT * FROM ctx_conversations WHERE account_id = ? AND conversation_id = ?",
            (account_id, conversation_id),
        ).fetchone()
        turns = conn.execute(
            "SELECT role, text, at FROM ctx_turns WHERE account_id = ? AND conversation_id = ? ORDER BY id",
            (account_id, conversation_id),
        ).fetchall()
        recent = tuple(ContextTurn(t["role"], t["text"], t["at"]) for t in turns)
        if row is None:
            return Context(account_id, conversation_id, recent)
        return Context(
            account_id,
            conversation_id,
            recent,
            summary=row["summary"],
            customer_name=row["customer_name"],
            language=row["language"],
            state=json.loads(row["state"]),
        )

    def record(
        self, account_id: int, conversation_id: int, role: str, text: str, *, message_id: int | None = None
    ) -> None:
        """Remember one message; the oldest turns beyond max_recent are folded into the summary.

        With `message_id` (Chatwoot's), recording the same message again changes nothing.
        """
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, got {role!r}")
        conn, now = self._conn(), self._clock()
        conn.execute("BEGIN IMMEDIATE")
        try:
            self._ensure(conn, account_id, conversation_id, now)
            inserted = conn.execute(
                "INSERT OR IGNORE INTO ctx_turns (account_id, conversation_id, role, text, at, message_id)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (account_id, conversation_id, role, text, now, message_id),
            ).rowcount
            if not inserted:
                conn.execute("COMMIT")
                return
            rows = conn.execute(
                "SELECT id, role, text, at FROM ctx_turns WHERE account_id = ? AND conversation_id = ? "
                "ORDER BY id",
                (account_id, conversation_id),
            ).fetchall()
            overflow = rows[: max(0, len(rows) - self.max_recent)]
            if overflow:
                summary = conn.execute(
                    "SELECT summary FROM ctx_conversations WHERE account_id = ? AND conversation_id = ?",
                    (account_id, conversation_id),
                ).fetchone()["summary"]
                summary = fold_into_summary(
                    summary, [ContextTurn(r["role"], r["text"], r["at"]) for r in overflow]
                )
                conn.execute(
                    "UPDATE ctx_conversations SET summary = ?, updated_at = ? "
                    "WHERE account_id = ? AND conversation_id = ?",
                    (summary, now, account_id, conversation_id),
                )
                conn.executemany("DELETE FROM ctx_turns WHERE id = ?", [(r["id"],) for r in overflow])
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def update(
        self,
        account_id: int,
        conversation_id: int,
        *,
        customer_name: str | None = None,
        language: str | None = None,
        state: dict[str, Any] | None = None,
    ) -> None:
        """Set what is given (None leaves a field as it is); `state` replaces the whole dict."""
        conn, now = self._conn(), self._clock()
        conn.execute("BEGIN IMMEDIATE")
        try:
            self._ensure(conn, account_id, conversation_id, now)
            conn.execute(
                "UPDATE ctx_conversations SET customer_name = COALESCE(?, customer_name), "
                "language = COALESCE(?, language), state = COALESCE(?, state), updated_at = ? "
                "WHERE account_id = ? AND conversation_id = ?",
                (
                    customer_name,
                    language,
                    json.dumps(state, ensure_ascii=False, default=str) if state is not None else None,
                    now,
                    account_id,
                    conversation_id,
                ),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    @staticmethod
    def _ensure(conn: sqlite3.Connection, account_id: int, conversation_id: int, now: float) -> None:
        conn.execute(
            "INSERT INTO ctx_conversations (account_id, conversation_id, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (account_id, conversation_id) DO NOTHING",
            (account_id, conversation_id, now),
        )
