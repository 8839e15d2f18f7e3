"""A conversation whose turn keeps failing: backoff, dead letters, and store failures kept apart."""

import sqlite3

import pytest

from app.store import conversations, outbox
from app.worker.failures import TRANSIENT_MAX_S, FailureTracker
from app.worker.loop import open_worker_store

KEY = (1, 77)


@pytest.fixture
def conn(tmp_path):
    conn = open_worker_store(tmp_path / "chatwootai.db")
    yield conn
    conn.close()


def add_event(conn, conversation=77) -> int:
    return conn.execute("INSERT INTO events (account_id, conversation_id, kind, answerable, payload, received_at)"
                        " VALUES (1, ?, 'message_created', 1, '{}', 0)", (conversation,)).lastrowid


def pending(conn, conversation=77) -> list[int]:
    return [r[0] for r in conn.execute(
        "SELECT id FROM events WHERE state = 'pending' AND conversation_id = ?", (conversation,))]


def test_three_identical_failures_move_the_events_to_dead_letters(conn):
    tracker = FailureTracker(max_failures=3, backoff_s=1.0)
    ids = [add_event(conn), add_event(conn)]
    tracker.failed(conn, KEY, OverflowError("Python int too large to convert to SQLite INTEGER"))
    failure = conversations.failing(conn)[0]
    assert failure["failures"] == 1 and "OverflowError" in failure["last_error"]
    assert tracker.waiting(KEY, 0.0) and pending(conn) == ids
    tracker.attempt_starting(conn, KEY)
    tracker.failed(conn, KEY, OverflowError("again"))
    assert conversations.failing(conn)[0]["failures"] == 2
    tracker.attempt_starting(conn, KEY)
    later = add_event(conn)  # arrived while the third attempt ran: not part of what failed
    tracker.failed(conn, KEY, OverflowError("again"))
    assert pending(conn) == [later]
    letters = outbox.list_dead_letters(conn)
    assert [(r["event_id"], r["purpose"]) for r in letters] == [(ids[0], "event"), (ids[1], "event")]
    assert "OverflowError" in letters[0]["error"]
    assert conversations.failing(conn) == [] and not tracker.waiting(KEY, 0.0)


def test_backoff_doubles_and_the_conversation_waits_without_a_slot(conn):
    tracker = FailureTracker(max_failures=5, backoff_s=1.0)
    add_event(conn)
    tracker.failed(conn, KEY, KeyError("x"))
    first = conversations.failing(conn)[0]["retry_at"]
    tracker.failed(conn, KEY, KeyError("x"))
    second = conversations.failing(conn)[0]["retry_at"]
    assert second - first == pytest.approx(1.0, abs=0.5)  # 1 s then 2 s after each failure
    assert tracker.waiting(KEY, second - 0.1) and not tracker.waiting(KEY, second + 0.1)


def test_a_different_failure_starts_the_count_again(conn):
    tracker = FailureTracker(max_failures=2)
    add_event(conn)
    tracker.failed(conn, KEY, KeyError("x"))
    tracker.failed(conn, KEY, TypeError("y"))
    assert pending(conn) and conversations.failing(conn)[0]["failures"] == 1


def test_a_store_that_cannot_write_never_dead_letters_anything(conn):
    tracker = FailureTracker(max_failures=3)
    add_event(conn)
    for _ in range(10):
        tracker.failed(conn, KEY, sqlite3.OperationalError("database or disk is full"))
    assert pending(conn) and outbox.list_dead_letters(conn) == []
    # It is retried often: space coming back must mean replies soon.
    assert not tracker.waiting(KEY, __import__("time").time() + TRANSIENT_MAX_S + 0.01)


def test_success_clears_the_failure(conn):
    tracker = FailureTracker()
    add_event(conn)
    tracker.failed(conn, KEY, KeyError("x"))
    tracker.succeeded(conn, KEY)
    assert conversations.failing(conn) == [] and tracker.count() == 0


def test_failures_survive_a_restart_of_the_worker(conn):
    FailureTracker(max_failures=3).failed(conn, KEY, KeyError("x"))
    FailureTracker(max_failures=3).failed(conn, KEY, KeyError("x"))  # a tracker that did not load: count 1
    restarted = FailureTracker(max_failures=2)
    restarted.load(conn)
    add_event(conn)
    restarted.failed(conn, KEY, KeyError("x"))  # 2nd of 2 for the loaded record
    assert pending(conn) == [] and len(outbox.list_dead_letters(conn)) == 1


def test_dead_letters_drop_and_requeue(conn):
    tracker = FailureTracker(max_failures=1)
    event = add_event(conn)
    tracker.failed(conn, KEY, KeyError("x"))
    [letter] = outbox.list_dead_letters(conn)
    assert outbox.requeue_event(conn, letter)
    assert pending(conn) == [event]
    assert outbox.get_dead_letter(conn, letter["id"])["replay_result"] == "requeued"
    assert outbox.drop_dead_letter(conn, letter["id"])
    assert outbox.list_dead_letters(conn) == [] and not outbox.drop_dead_letter(conn, letter["id"])
