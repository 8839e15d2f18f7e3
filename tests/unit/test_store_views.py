"""The store's named read-only questions (status, trace, worker_store, failures): exact answers
on a store with known rows, and the error callers rely on when the worker never migrated it."""

import pytest

from app.store import conversations, failures, status, trace, worker_store
from app.store.db import OperationalError, connect, connect_readonly, migrate
from app.store.inbox import INBOX_MIGRATIONS

NOW = 1_800_000_000.0


def add_event(conn, conversation, message, received_at, *, answerable=1, state="pending", account=1):
    return conn.execute(
        "INSERT INTO events (account_id, conversation_id, message_id, dedup_key, kind, answerable, payload,"
        " received_at, state) VALUES (?, ?, ?, ?, 'message_created', ?, '{}', ?, ?)",
        (account, conversation, message, f"{account}:{message}", answerable, received_at, state),
    ).lastrowid


def add_turn(conn, conversation, action, *, llm_calls=0, tokens=0, accepted=NOW, finished=None):
    return conn.execute(
        "INSERT INTO turns (account_id, conversation_id, event_ids, action, intent, llm_calls, prompt_tokens,"
        " accepted_at, started_at, decided_at, finished_at) VALUES (1, ?, '[]', ?, 'sales', ?, ?, ?, ?, ?, ?)",
        (conversation, action, llm_calls, tokens, accepted, accepted, accepted, finished),
    ).lastrowid


def add_request(conn, turn_id, seq, purpose, state, *, error=None, sent_at=None, next_attempt_at=0.0,
                conversation=7):
    return conn.execute(
        "INSERT INTO outbox (turn_id, seq, purpose, account_id, conversation_id, method, path, body, state,"
        " last_error, sent_at, next_attempt_at) VALUES (?, ?, ?, 1, ?, 'POST', '/x', '{}', ?, ?, ?, ?)",
        (turn_id, seq, purpose, conversation, state, error, sent_at, next_attempt_at),
    ).lastrowid


@pytest.fixture
def conn(tmp_path):
    conn = worker_store.open_worker_store(tmp_path / "chatwootai.db")
    yield conn
    conn.close()


def test_status_answers_from_the_inbox_and_the_worker_tables(conn):
    add_event(conn, 7, 1, NOW - 9)
    add_event(conn, 8, 2, NOW - 8, answerable=0)
    add_event(conn, 9, 3, NOW - 7, state="done")
    add_event(conn, 4, 4, NOW - 6, account=2)
    first = add_turn(conn, 7, "reply", llm_calls=2, tokens=300, finished=NOW + 0.2)
    add_turn(conn, 7, "handoff", llm_calls=1, tokens=50, finished=NOW + 3.0)
    add_turn(conn, 8, "reply")  # not finished: not in the latency
    add_request(conn, first, 0, "reply", "sent", sent_at=NOW + 0.2)
    add_request(conn, first, 1, "labels", "pending", error="HTTP 503")
    add_request(conn, first, 2, "handoff", "dead", error="HTTP 422")
    conn.execute("INSERT INTO dead_letters (account_id, conversation_id, purpose, error, created_at, replayed_at)"
                 " VALUES (1, 7, 'event', 'x', ?, ?), (1, 7, 'handoff', 'y', ?, NULL)", (NOW, NOW, NOW))
    conversations.bump(conn, "chatwoot_retries", 4)
    conversations.record_failure(conn, 1, 20, 1, "A: first", NOW + 5)
    conversations.record_failure(conn, 1, 21, 2, "B: second", NOW + 9)

    status.probe_inbox(conn)
    assert status.inbox_depth(conn) == 2
    assert status.latest_conversation_id(conn, 1) == 9
    assert status.latest_conversation_id(conn, 3) is None
    assert status.failing_count(conn) == 2
    assert [(r["conversation_id"], r["failures"], r["last_error"]) for r in status.recently_failing(conn, 1)] == [
        (21, 2, "B: second")]
    assert status.last_sent_at(conn) == NOW + 0.2
    assert status.last_send_error(conn) == "HTTP 503"
    assert status.requests_by_purpose_and_state(conn) == [("handoff", "dead", 1), ("labels", "pending", 1),
                                                          ("reply", "sent", 1)]
    assert status.dead_letter_counts(conn) == (2, 1)
    assert status.dead_letter_event_count(conn) == 1
    assert status.counters(conn) == {"chatwoot_retries": 4}
    assert status.turns_by_action(conn) == [("handoff", 1), ("reply", 2)]
    assert status.llm_usage(conn) == (3, 350)
    within, count, seconds = status.turn_latency(conn, (0.1, 1.0, 5.0))
    assert (within, count) == ([0, 1, 2], 2) and seconds == pytest.approx(3.2)


def test_an_empty_outbox_has_nothing_sent_and_nothing_failing(conn):
    assert status.last_sent_at(conn) is None and status.last_send_error(conn) is None
    assert status.turn_latency(conn, (1.0,)) == ([0], 0, 0)
    assert conversations.latest_heartbeat(conn) is None


def test_a_store_the_worker_never_migrated_raises_operational_error(tmp_path):
    """/ready, /metrics and doctor read this error as "no worker has run here yet"."""
    db = tmp_path / "chatwootai.db"
    conn = connect(db)
    migrate(conn, "inbox", INBOX_MIGRATIONS)  # what the web program alone creates
    status.probe_inbox(conn)
    for ask in (status.failing_count, status.last_sent_at, status.counters, conversations.latest_heartbeat):
        with pytest.raises(OperationalError, match="no such table"):
            ask(conn)
    conn.close()


def test_trace_follows_one_message_to_its_turn_and_requests(conn, tmp_path):
    event_id = add_event(conn, 7, 42, NOW)
    assert trace.lease_owner(conn, 1, 7) is None
    assert conversations.claim(conn, 1, 7, "worker-a", NOW)
    turn_id = add_turn(conn, 7, "reply")
    add_request(conn, turn_id, 1, "labels", "pending")
    add_request(conn, turn_id, 0, "reply", "sent", sent_at=NOW)
    conn.execute("UPDATE events SET state = 'done', turn_id = ? WHERE id = ?", (turn_id, event_id))

    view = connect_readonly(tmp_path / "chatwootai.db")  # as simulate opens it
    try:
        event = trace.event_by_dedup_key(view, "1:42")
        assert (event["id"], event["state"], event["turn_id"]) == (event_id, "done", turn_id)
        assert trace.event_by_dedup_key(view, "1:43") is None
        assert trace.lease_owner(view, 1, 7) == "worker-a"
        assert trace.turn(view, turn_id)["action"] == "reply"
        assert [r["purpose"] for r in trace.turn_requests(view, turn_id)] == ["reply", "labels"]
    finally:
        view.close()


def test_worker_store_timers_and_failing_conversations(conn):
    add_event(conn, 7, 1, NOW - 10)
    newest = add_event(conn, 7, 2, NOW - 1)
    add_event(conn, 7, 3, NOW - 0.5, answerable=0)
    assert worker_store.oldest_pending_message_since(conn, NOW - 2) == NOW - 1
    assert worker_store.oldest_pending_message_since(conn, NOW) is None
    turn_id = add_turn(conn, 7, "reply")
    add_request(conn, turn_id, 0, "reply", "pending", next_attempt_at=NOW + 30)
    assert worker_store.next_outbox_attempt(conn, NOW) == NOW + 30
    assert worker_store.next_outbox_attempt(conn, NOW + 30) is None
    # Its events wait behind the request; the request is due at NOW + 30.
    assert worker_store.conversations_with_work(conn, NOW) == []
    assert [tuple(r)[:2] for r in worker_store.conversations_with_work(conn, NOW + 30)] == [(1, 7), (1, 7)]

    assert failures.newest_pending_event(conn, 1, 7) == newest + 1
    assert failures.newest_pending_event(conn, 1, 99) is None
    conversations.record_failure(conn, 1, 7, 3, "ValueError: bad", NOW + 1)
    letters = failures.dead_letter_conversation(conn, 1, 7, newest, "ValueError: bad")
    assert len(letters) == 2, "only the events up to the one the failing attempt saw"
    assert failures.newest_pending_event(conn, 1, 7) == newest + 1
    assert status.failing_count(conn) == 0
