"""Which conversations the worker takes next: coalescing, its cap, and waiting outbox rows."""


import pytest

from app.chatwoot import api
from app.settings import Settings
from app.store import conversations, outbox
from app.worker.loop import MAX_BURST_WINDOWS, Worker, open_worker_store

NOW = 1_800_000_000.0


@pytest.fixture
def store(tmp_path):
    conn = open_worker_store(tmp_path / "db")
    settings = Settings.from_env({"WEBHOOK_AUTH_TOKEN": "t", "COALESCE_WINDOW_MS": "2000", "DATA_DIR": str(tmp_path)})
    yield conn, Worker(settings)
    conn.close()


def add(conn, conversation, received_at, answerable=1):
    conn.execute("INSERT INTO events (account_id, conversation_id, kind, answerable, payload, received_at)"
                 " VALUES (1, ?, 'message_created', ?, '{}', ?)", (conversation, answerable, received_at))


def test_a_burst_waits_for_the_window_after_its_newest_message(store):
    conn, worker = store
    add(conn, 1, NOW - 3.0)
    add(conn, 1, NOW - 1.0)  # the customer is still typing
    add(conn, 2, NOW - 2.5)
    assert worker.ready_conversations(conn, NOW) == [(1, 2)]
    assert worker.ready_conversations(conn, NOW + 1.0) == [(1, 1), (1, 2)]


def test_context_events_do_not_wait(store):
    conn, worker = store
    add(conn, 3, NOW, answerable=0)  # an agent's message: applied at once
    assert worker.ready_conversations(conn, NOW) == [(1, 3)]


def test_a_customer_who_never_pauses_is_answered_after_the_cap(store):
    conn, worker = store
    first = NOW - 2.0 * MAX_BURST_WINDOWS
    add(conn, 4, first)
    add(conn, 4, NOW - 0.1)
    assert worker.ready_conversations(conn, NOW) == [(1, 4)]
    assert worker.ready_conversations(conn, NOW - 0.5) == []


def test_a_request_waiting_for_its_retry_holds_the_conversation_back(store):
    conn, worker = store
    state = conversations.load(conn, 1, 5)
    record = outbox.TurnRecord(1, 5, (), "reply", None, None, None, 0, 0, 0.0, 0.0, 0.0)
    outbox.commit_turn(conn, record, [api.create_message(1, 5, "oi")], [], state)
    row = outbox.open_rows(conn, 1, 5)[0]
    outbox.mark_retry(conn, row, "HTTP 503", NOW + 30)
    add(conn, 5, NOW - 10)
    assert worker.ready_conversations(conn, NOW) == []
    assert worker.ready_conversations(conn, NOW + 31) == [(1, 5)]
