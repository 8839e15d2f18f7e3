"""RETENTION_DAYS: what the worker deletes, and what it keeps whatever its age."""

import time

import pytest

from app.chatwoot import api
from app.settings import Settings
from app.store import conversations, outbox
from app.store.bookings import BookingStore
from app.store.memory import MemoryStore
from app.store.retention import prune
from app.worker.failures import FailureTracker
from app.worker.loop import open_worker_store
from app.worker.retention import DAY_S

NOW = time.time()
OLD = NOW - 40 * DAY_S
CUTOFF = NOW - 30 * DAY_S


@pytest.fixture
def conn(tmp_path):
    conn = open_worker_store(tmp_path / "chatwootai.db")
    yield conn
    conn.close()


def event(conn, conversation, received_at, state="done") -> int:
    return conn.execute(
        "INSERT INTO events (account_id, conversation_id, kind, answerable, payload, received_at, state)"
        " VALUES (1, ?, 'message_created', 1, '{}', ?, ?)", (conversation, received_at, state)).lastrowid


def turn(conn, conversation, at, *requests) -> int:
    state = conversations.load(conn, 1, conversation)
    record = outbox.TurnRecord(1, conversation, (), "reply", None, None, None, 0, 0, at, at, at)
    turn_id = outbox.commit_turn(conn, record, list(requests), [], state)
    return turn_id


def count(conn, table, where="1") -> int:
    return conn.execute(f"SELECT count(*) FROM {table} WHERE {where}").fetchone()[0]  # noqa: S608


def test_old_answered_rows_go_and_pending_bookings_and_dead_letters_stay(conn, tmp_path):
    # Events: old answered ones go; an old pending one (never worked) and recent ones stay.
    old_done = [event(conn, 1, OLD) for _ in range(450)]
    old_pending = event(conn, 2, OLD, state="pending")
    recent = event(conn, 1, NOW)
    # Turns and their requests: an old finished turn goes with its sent row.
    sent_turn = turn(conn, 3, OLD, api.create_message(1, 3, "oi"))
    [row] = outbox.open_rows(conn, 1, 3)
    outbox.mark_sent(conn, row, 9)
    # An old turn whose request failed for good: its dead letter is not handled, so it all stays.
    dead_turn = turn(conn, 4, OLD, api.create_message(1, 4, "oi"))
    [row] = outbox.open_rows(conn, 1, 4)
    kept_letter = outbox.dead_letter(conn, row, 404, "HTTP 404")
    # An old turn whose dead letter was replayed (handled) long ago: everything goes.
    replayed_turn = turn(conn, 5, OLD, api.create_message(1, 5, "oi"))
    [row] = outbox.open_rows(conn, 1, 5)
    replayed_letter = outbox.dead_letter(conn, row, 500, "HTTP 500")
    conn.execute("UPDATE dead_letters SET replayed_at = ?, replay_result = 'sent' WHERE id = ?",
                 (OLD, replayed_letter))
    # A poison event: its dead letter keeps it.
    poison = event(conn, 6, OLD, state="pending")
    FailureTracker(max_failures=1).failed(conn, (1, 6), KeyError("x"))
    conn.execute("UPDATE turns SET decided_at = ?, started_at = ? WHERE id IN (?, ?, ?)",
                 (OLD, OLD, sent_turn, dead_turn, replayed_turn))
    recent_turn = turn(conn, 7, NOW)
    # The hub's memory, and a booking made long ago.
    settings = Settings.from_env({"WEBHOOK_AUTH_TOKEN": "tok-ret-1", "DATA_DIR": str(tmp_path)})
    MemoryStore(settings.db_path, clock=lambda: OLD).record(1, 8, "customer", "oi, tudo bem?", message_id=1)
    MemoryStore(settings.db_path).record(1, 9, "customer", "quero agendar", message_id=2)
    BookingStore.migrate(conn)
    conn.execute("INSERT INTO bookings (service_id, slot_start, slot_end, seat, conversation_key, created_at)"
                 " VALUES ('limpeza', ?, ?, 1, '1:8', ?)", (int(OLD), int(OLD) + 3600, OLD))

    counts = prune(conn, CUTOFF, batch=100, pause_s=0)

    assert counts == {"dead_letters": 1, "outbox": 2, "turns": 2, "events": 450, "memory": 2}
    assert count(conn, "events", f"id IN ({','.join(map(str, old_done))})") == 0
    assert {r[0] for r in conn.execute("SELECT id FROM events")} == {old_pending, recent, poison}
    assert {r[0] for r in conn.execute("SELECT id FROM turns")} == {dead_turn, recent_turn}
    assert [r[0] for r in conn.execute("SELECT id FROM dead_letters WHERE event_id IS NULL")] == [kept_letter]
    assert count(conn, "dead_letters", "event_id IS NOT NULL") == 1
    assert count(conn, "outbox") == 1
    assert [r[0] for r in conn.execute("SELECT conversation_id FROM ctx_turns")] == [9]
    # The old conversation's memory is cleared; its row is the worker's and stays.
    assert [r[0] for r in conn.execute("SELECT conversation_id FROM conversations WHERE memory_at IS NOT NULL")] == [9]
    assert count(conn, "bookings") == 1
    # A second run finds nothing more.
    assert sum(prune(conn, CUTOFF, pause_s=0).values()) == 0
    # Once the poison event's letter is dropped, the event may go too.
    [letter] = conn.execute("SELECT id FROM dead_letters WHERE event_id IS NOT NULL").fetchall()
    outbox.drop_dead_letter(conn, letter[0])
    assert prune(conn, CUTOFF, pause_s=0)["events"] == 1
    assert count(conn, "events") == 2


def test_retention_days_setting(tmp_path):
    base = {"WEBHOOK_AUTH_TOKEN": "tok-ret-2", "DATA_DIR": str(tmp_path)}
    assert Settings.from_env(base).retention_days == 30
    assert Settings.from_env({**base, "RETENTION_DAYS": "7"}).retention_days == 7
    assert Settings.from_env({**base, "RETENTION_DAYS": "0"}).retention_days == 0  # keep everything
