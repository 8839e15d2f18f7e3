"""Read-only questions about the appliance's state, as /ready, /metrics and `doctor` ask them.

The web program reads the worker's tables here (the worker is another process), so every figure
comes from the one shared store. Each function runs plain SELECTs on the connection it is given
and raises the store's error (`DatabaseError`; `OperationalError` when a table does not exist yet,
on a store the worker never migrated): what that means is the caller's answer to give.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

# ---- the inbox


def probe_inbox(conn: sqlite3.Connection) -> None:
    """Can the inbox be read? One indexed miss on `events`; raises DatabaseError when it cannot."""
    conn.execute("SELECT count(*) FROM events WHERE id = -1").fetchone()


def inbox_depth(conn: sqlite3.Connection) -> int:
    """Answerable events waiting for the worker."""
    return conn.execute("SELECT count(*) FROM events WHERE state = 'pending' AND answerable = 1").fetchone()[0]


def latest_conversation_id(conn: sqlite3.Connection, account_id: int | None) -> int | None:
    """The conversation of the account's newest stored event (None: no event stored yet)."""
    row = conn.execute(
        "SELECT conversation_id FROM events WHERE conversation_id IS NOT NULL AND account_id = ? ORDER BY id DESC"
        " LIMIT 1",
        (account_id,),
    ).fetchone()
    return row[0] if row else None


# ---- conversations whose turn keeps failing


def failing_count(conn: sqlite3.Connection) -> int:
    """How many conversations' last turn failed (they are retried, then dead-lettered)."""
    return conn.execute("SELECT count(*) FROM conversations WHERE failures > 0").fetchone()[0]


def recently_failing(conn: sqlite3.Connection, limit: int) -> list[sqlite3.Row]:
    """Up to `limit` failing conversations, the latest to be retried first: account_id,
    conversation_id, failures, last_error."""
    return conn.execute(
        "SELECT account_id, conversation_id, failures, last_error FROM conversations WHERE failures > 0"
        " ORDER BY retry_at DESC LIMIT ?",
        (limit,),
    ).fetchall()


# ---- requests to Chatwoot


def last_sent_at(conn: sqlite3.Connection) -> float | None:
    """When the newest outbox row that was sent went out (None: nothing sent yet)."""
    # Newest first by rowid: stops at the first sent row instead of scanning the outbox.
    row = conn.execute("SELECT sent_at FROM outbox WHERE state = 'sent' ORDER BY id DESC LIMIT 1").fetchone()
    return row[0] if row else None


def last_send_error(conn: sqlite3.Connection) -> str | None:
    """The error of the newest unsent outbox row that failed at least once (None: none is failing)."""
    row = conn.execute(
        "SELECT last_error FROM outbox WHERE state IN ('pending', 'sending') AND last_error IS NOT NULL"
        " ORDER BY id DESC LIMIT 1"
    ).fetchone()
    return row[0] if row else None


def requests_by_purpose_and_state(conn: sqlite3.Connection) -> list[tuple[str, str, int]]:
    """Outbox rows counted by (purpose, state)."""
    return [(r["purpose"], r["state"], r["n"])
            for r in conn.execute("SELECT purpose, state, count(*) AS n FROM outbox GROUP BY purpose, state")]


def dead_letter_counts(conn: sqlite3.Connection) -> tuple[int, int]:
    """(all dead letters, those not replayed yet)."""
    row = conn.execute("SELECT count(*), count(*) FILTER (WHERE replayed_at IS NULL) FROM dead_letters").fetchone()
    return row[0], row[1]


def dead_letter_event_count(conn: sqlite3.Connection) -> int:
    """Events moved to dead letters because their conversation's turn kept failing."""
    return conn.execute("SELECT count(*) FROM dead_letters WHERE purpose = 'event'").fetchone()[0]


def counters(conn: sqlite3.Connection) -> dict[str, int]:
    """The worker's named counters (`conversations.bump`), e.g. chatwoot_retries."""
    return dict(conn.execute("SELECT name, value FROM counters").fetchall())


# ---- turns


def turns_by_action(conn: sqlite3.Connection) -> list[tuple[str, int]]:
    """Turns decided, counted by action (reply, handoff, …)."""
    return [(r["action"], r["n"]) for r in conn.execute("SELECT action, count(*) AS n FROM turns GROUP BY action")]


def llm_usage(conn: sqlite3.Connection) -> tuple[int, int]:
    """(LLM calls, prompt tokens) summed over every turn."""
    row = conn.execute("SELECT coalesce(sum(llm_calls), 0), coalesce(sum(prompt_tokens), 0) FROM turns").fetchone()
    return row[0], row[1]


def turn_latency(conn: sqlite3.Connection, bounds: Sequence[float]) -> tuple[list[int], int, float]:
    """Finished turns' latency (newest message stored → last request sent), for a histogram:
    (how many took ≤ each bound, cumulative; how many in all; their sum in seconds)."""
    # One pass in SQL: cumulative bucket counts, the count and the sum.
    columns = ", ".join(f"coalesce(sum(latency <= {float(bound)}), 0)" for bound in bounds)
    row = conn.execute(
        f"SELECT {columns}, count(*), coalesce(sum(latency), 0) FROM"  # noqa: S608 - numbers only
        " (SELECT finished_at - accepted_at AS latency FROM turns WHERE finished_at IS NOT NULL)"
    ).fetchone()
    return [row[i] for i in range(len(bounds))], row[len(bounds)], row[len(bounds) + 1]
