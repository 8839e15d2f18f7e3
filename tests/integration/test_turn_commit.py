"""Memory and bookings are committed with the turn: the real worker (ConversationWorker), the real
hub (offline responder), real SQLite. The hub writes nothing while it decides, so a turn redone
after a crash records nothing twice and books once, and a seat another conversation took since
the decision fails the commit (nothing of the turn kept) and the turn is decided again."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from app.hub.dataproxy import DataProxy
from app.hub.hub import Hub
from app.ops.payloads import message_created
from app.settings import Settings
from app.worker.loop import open_worker_store
from app.worker.sender import OutboxSender
from app.worker.turn import MAX_REDOS, ConversationWorker

CONVERSATION = 50
OTHER = "1:999"  # another conversation, whose turn takes a seat


class Crash(BaseException):
    """The worker process dying right after the hub decided: nothing after it runs (a BaseException,
    so no handler of the worker turns it into a handoff), nothing is committed."""


class Recording:
    """The real hub, seen from the worker; every decision it made is kept for the test to compare."""

    def __init__(self, hub: Hub):
        self.hub = hub
        self.decisions: list = []

    async def decide(self, turn):
        decision = await self.hub.decide(turn)
        self.decisions.append(decision)
        return decision

    def business_hours(self):
        return self.hub.business_hours()

    def refresh_knowledge(self) -> bool:
        return self.hub.refresh_knowledge()

    def close(self) -> None:
        self.hub.close()


class CrashAfterDecide(Recording):
    def __init__(self, hub: Hub, crashes: int = 1):
        super().__init__(hub)
        self.crashes = crashes

    async def decide(self, turn):
        decision = await super().decide(turn)
        if self.crashes:
            self.crashes -= 1
            raise Crash
        return decision


class SeatTakenAfterDecide(Recording):
    """Right after the hub decided to book, another conversation's turn takes that seat
    (`times` times); with `stale`, the hub keeps returning its first decision, as a hub would
    that cannot see the slot is gone."""

    def __init__(self, hub: Hub, dp: DataProxy, *, times: int = 1, stale: bool = False):
        super().__init__(hub)
        self.dp, self.times, self.stale = dp, times, stale

    async def decide(self, turn):
        if self.stale and self.decisions:
            self.decisions.append(self.decisions[0])
            return self.decisions[0]
        decision = await super().decide(turn)
        if self.times and decision.bookings:
            self.times -= 1
            for change in decision.bookings:
                self.dp.book(change.service_id, change.start, conversation_key=OTHER)
        return decision


@pytest.fixture
def store(tmp_path):
    settings = Settings.from_env({"WEBHOOK_AUTH_TOKEN": "tok-turn-commit-1", "DATA_DIR": str(tmp_path)})
    conn = open_worker_store(settings.db_path)
    hub = Hub(settings)
    dp = DataProxy.from_settings(settings)
    yield settings, conn, hub, dp
    dp.close()
    hub.close()
    conn.close()


def customer_says(conn, message_id: int, text: str, *, sender_type: str = "contact") -> None:
    body = message_created(account_id=1, conversation_id=CONVERSATION, message_id=message_id, content=text,
                           contact_name="Ana", sender_type=sender_type, sender_name="Ana")
    conn.execute("INSERT INTO events (account_id, conversation_id, message_id, kind, answerable, payload,"
                 " received_at) VALUES (1, ?, ?, 'message_created', ?, ?, ?)",
                 (CONVERSATION, message_id, int(sender_type == "contact"), json.dumps(body), time.time()))


def work(settings, conn, hub) -> None:
    asyncio.run(ConversationWorker(settings, conn, hub, OutboxSender(conn, None)).run(1, CONVERSATION))


def replies(conn) -> list[str]:
    rows = conn.execute("SELECT body FROM outbox WHERE conversation_id = ? AND purpose IN ('reply', 'handoff_message')"
                        " ORDER BY id", (CONVERSATION,)).fetchall()
    return [json.loads(r[0])["content"] for r in rows]


def memory(conn) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in conn.execute(
        "SELECT role, text FROM ctx_turns WHERE conversation_id = ? ORDER BY id", (CONVERSATION,))]


def bookings(conn, key: str = f"1:{CONVERSATION}") -> list[int]:
    return [r[0] for r in conn.execute("SELECT slot_start FROM bookings WHERE conversation_key = ?"
                                       " AND seat IS NOT NULL", (key,))]


def offered(conn) -> list[dict]:
    row = conn.execute("SELECT state FROM conversations WHERE conversation_id = ?", (CONVERSATION,)).fetchone()
    return json.loads(row[0]).get("offered_slots", [])


def count(conn, sql: str) -> int:
    return conn.execute(sql).fetchone()[0]


def test_a_pick_redone_after_a_crash_books_once_and_says_booked(store):
    settings, conn, hub, _ = store
    customer_says(conn, 5001, "quero agendar uma limpeza de pele")
    work(settings, conn, hub)
    offers = offered(conn)
    assert len(offers) == 5 and "Responda com o número" in replies(conn)[0]

    customer_says(conn, 5002, "2")
    crashing = CrashAfterDecide(hub)
    with pytest.raises(Crash):
        work(settings, conn, crashing)
    # The decision was lost with the process: nothing of it is in the store.
    assert crashing.decisions[0].bookings and bookings(conn) == []
    assert memory(conn) == [("customer", "quero agendar uma limpeza de pele"), ("bot", replies(conn)[0])]
    assert offered(conn) == offers and count(conn, "SELECT count(*) FROM turns") == 1

    work(settings, conn, crashing)  # the worker starts again: the same turn, decided again
    redo = crashing.decisions[1]
    assert redo.bookings == crashing.decisions[0].bookings  # it saw the same offered slots
    [booked] = bookings(conn)
    assert booked == int(redo.bookings[0].start.timestamp())
    assert offers[1]["start"] == redo.bookings[0].start.isoformat()
    last = replies(conn)[-1]
    assert "Agendamento confirmado" in last and "#" not in last  # no number that did not exist yet
    assert [m for m in memory(conn) if m[0] == "customer"] == [
        ("customer", "quero agendar uma limpeza de pele"), ("customer", "2")]
    assert sum(role == "bot" for role, _ in memory(conn)) == 2
    assert offered(conn) == [] and count(conn, "SELECT count(*) FROM turns") == 2
    assert count(conn, "SELECT count(*) FROM events WHERE state = 'pending'") == 0


def test_a_seat_taken_before_the_commit_commits_nothing_and_the_turn_is_decided_again(store):
    settings, conn, hub, dp = store
    customer_says(conn, 5101, "quero agendar uma limpeza de pele")
    work(settings, conn, hub)
    customer_says(conn, 5102, "1")
    racing = SeatTakenAfterDecide(hub, dp)
    work(settings, conn, racing)

    first, second = racing.decisions
    assert first.bookings and second.bookings == ()  # decided again, on the slot now full
    assert bookings(conn) == [] and len(bookings(conn, OTHER)) == 1
    last = replies(conn)[-1]
    assert "acabou de ser ocupado" in last and "Agendamento confirmado" not in "".join(replies(conn))
    assert offered(conn) and offered(conn)[0]["start"] != first.bookings[0].start.isoformat()
    # One turn committed for the pick, and its customer message remembered once.
    assert count(conn, "SELECT count(*) FROM turns") == 2
    assert [t for r, t in memory(conn) if r == "customer"] == ["quero agendar uma limpeza de pele", "1"]


def test_a_turn_that_keeps_losing_its_seat_goes_to_a_human_without_a_booking(store):
    settings, conn, hub, dp = store
    customer_says(conn, 5201, "quero agendar uma limpeza de pele")
    work(settings, conn, hub)
    customer_says(conn, 5202, "1")
    stale = SeatTakenAfterDecide(hub, dp, stale=True)
    work(settings, conn, stale)

    assert len(stale.decisions) == MAX_REDOS + 1
    [turn] = conn.execute("SELECT action, reason FROM turns ORDER BY id DESC LIMIT 1").fetchall()
    assert turn[0] == "handoff" and "slot was taken" in turn[1]
    assert bookings(conn) == []
    assert "Agendamento confirmado" not in "".join(replies(conn))
    assert conn.execute("SELECT handler FROM conversations WHERE conversation_id = ?",
                        (CONVERSATION,)).fetchone()[0] == "human"
    assert [t for r, t in memory(conn) if r == "customer"] == ["quero agendar uma limpeza de pele", "1"]


def test_messages_a_human_handles_are_remembered_with_the_turn(store):
    settings, conn, hub, _ = store
    customer_says(conn, 5301, "oi")
    work(settings, conn, hub)
    customer_says(conn, 5302, "Oi Ana, aqui é a Bia, vou te ajudar.", sender_type="user")
    customer_says(conn, 5303, "obrigada Bia")
    work(settings, conn, hub)
    assert len(replies(conn)) == 1  # the human answers now
    assert memory(conn)[-2:] == [("agent", "Oi Ana, aqui é a Bia, vou te ajudar."), ("customer", "obrigada Bia")]
    assert count(conn, "SELECT count(*) FROM events WHERE state = 'pending'") == 0
