"""Conversations whose turn fails: back off, then move their events aside — never stall the others.

Two kinds of failure, told apart by the exception:
- The store cannot be written (a full disk, a lock held too long, an I/O error): nothing is wrong
  with the conversation. It waits a little (at most TRANSIENT_MAX_S) and is tried again, for as
  long as it takes; its events are never given up on, so space coming back means replies coming.
- Anything else (a poison event: an id SQLite cannot hold, a payload the code cannot work): the
  same failure `max_failures` times in a row, with backoff in between, moves the conversation's
  pending events to dead letters with the error, and the conversation starts afresh.

A conversation waiting for its next attempt holds no worker slot: the loop skips it until its
`retry_at`. Logs stay bounded: one traceback at the first failure, one line per later attempt,
and store failures once per conversation until it recovers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from loguru import logger

from app.store import conversations
from app.store.db import Connection, DatabaseError, OperationalError
from app.store.failures import dead_letter_conversation, newest_pending_event

MAX_FAILURES = 3  # the same failure this many times in a row: the events go to dead letters
BACKOFF_S = 1.0  # before the 2nd attempt; doubles for each further one
TRANSIENT_MAX_S = 2.0  # a store that cannot write is retried at least this often

Key = tuple[int, int]


@dataclass
class Failure:
    count: int
    kind: str  # the exception type: "the same failure" means the same type
    error: str
    retry_at: float
    transient: bool
    up_to_event: int | None = None  # the newest pending event when the failing attempt began


def is_transient(exc: BaseException) -> bool:
    """The store (or the disk under it) failed, not the conversation."""
    return isinstance(exc, (OperationalError, OSError))


class FailureTracker:
    def __init__(self, *, max_failures: int = MAX_FAILURES, backoff_s: float = BACKOFF_S):
        self.max_failures = max_failures
        self.backoff_s = backoff_s
        self._failures: dict[Key, Failure] = {}

    def load(self, conn: Connection) -> None:
        """Failures recorded by an earlier run keep counting (a poison event that failed twice
        before a restart is dead-lettered at its next failure)."""
        for row in conversations.failing(conn):
            error = row["last_error"] or ""
            self._failures[(row["account_id"], row["conversation_id"])] = Failure(
                count=row["failures"], kind=error.split(":", 1)[0], error=error,
                retry_at=row["retry_at"] or 0.0, transient=False,
            )

    def waiting(self, key: Key, now: float) -> bool:
        failure = self._failures.get(key)
        return failure is not None and failure.retry_at > now

    def next_retry(self, now: float) -> float | None:
        return min((f.retry_at for f in self._failures.values() if f.retry_at > now), default=None)

    def count(self) -> int:
        return len(self._failures)

    def attempt_starting(self, conn: Connection, key: Key) -> None:
        """Before a retry: note the newest pending event, so only what this attempt saw can be
        dead-lettered (a message arriving meanwhile gets its own chance)."""
        failure = self._failures.get(key)
        if failure is None or failure.transient:
            return
        try:
            failure.up_to_event = newest_pending_event(conn, *key)
        except DatabaseError:
            failure.up_to_event = None

    def succeeded(self, conn: Connection, key: Key) -> None:
        failure = self._failures.pop(key, None)
        if failure is None:
            return
        logger.bind(account=key[0], conversation=key[1]).info(
            "conversation worked again after {} failed attempt(s)", failure.count)
        try:
            conversations.clear_failure(conn, *key)
        except DatabaseError:
            pass  # shown in /ready a little longer; the next success clears it

    def failed(self, conn: Connection, key: Key, exc: BaseException) -> None:
        log = logger.bind(account=key[0], conversation=key[1])
        now = time.time()
        kind = type(exc).__name__
        error = f"{kind}: {exc}"[:500]
        previous = self._failures.get(key)
        if is_transient(exc):
            count = previous.count + 1 if previous is not None and previous.transient else 1
            delay = min(TRANSIENT_MAX_S, 0.25 * 2 ** (count - 1))
            self._failures[key] = Failure(count, kind, error, now + delay, transient=True)
            if count == 1:
                log.warning("conversation waits for the store: {}; retrying until it can write", error)
            else:
                log.debug("conversation still waits for the store: {}", error)
            return
        same = previous is not None and not previous.transient and previous.kind == kind
        count = previous.count + 1 if same else 1
        up_to = previous.up_to_event if same else None
        if count >= self.max_failures:
            self._dead_letter(conn, key, error, count, up_to, log)
            return
        delay = self.backoff_s * 2 ** (count - 1)
        self._failures[key] = Failure(count, kind, error, now + delay, transient=False, up_to_event=up_to)
        if count == 1:
            log.opt(exception=exc).error("conversation failed (1 of {}): {}; retrying in {:.0f} s",
                                         self.max_failures, error, delay)
        else:
            log.warning("conversation failed again ({} of {}): {}; retrying in {:.0f} s",
                        count, self.max_failures, error, delay)
        try:
            conversations.record_failure(conn, key[0], key[1], count, error, now + delay)
        except DatabaseError:
            pass  # the in-memory record is what the loop obeys; /ready shows it once the store writes

    def _dead_letter(self, conn: Connection, key: Key, error: str, count: int, up_to: int | None,
                     log) -> None:
        try:
            if up_to is None:
                up_to = newest_pending_event(conn, *key) or 0
            letters = dead_letter_conversation(conn, key[0], key[1], up_to, error)
        except DatabaseError as store_error:
            # Cannot move them now: try the conversation again shortly, as for any store failure.
            self._failures[key] = Failure(count, error.split(":", 1)[0], error, time.time() + TRANSIENT_MAX_S,
                                          transient=False, up_to_event=up_to)
            log.warning("could not move the failing conversation's events to dead letters: {}", store_error)
            return
        self._failures.pop(key, None)
        log.error("conversation failed {} times the same way: {} event(s) moved to dead letters (IDs {}): {}",
                  count, len(letters), ", ".join(map(str, letters)) or "none", error)
