"""A turn's bookings are planned while it decides and committed with it: what the turn sees counts
what it already intends, and a commit that finds a seat gone keeps nothing of the turn."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.hub.dataproxy import BookingPlan, DataProxy
from app.hub.tools import ToolBox
from app.settings import EXAMPLE_KNOWLEDGE_DIR
from app.store import conversations, outbox
from app.store.bookings import SlotUnavailable
from app.store.memory import MemoryUpdate, Remembered, migrate_memory
from app.worker.loop import open_worker_store

NOW = datetime(2026, 3, 10, 12, 30, tzinfo=UTC)  # Tuesday; the example studio has capacity 1


@pytest.fixture
def dp(tmp_path):
    proxy = DataProxy(tmp_path / "store.db", EXAMPLE_KNOWLEDGE_DIR, clock=lambda: NOW)
    yield proxy
    proxy.close()


def test_availability_counts_what_the_turn_already_booked(dp):
    plan = BookingPlan(dp, "1:7")
    first, second = dp.free_slots("limpeza-de-pele", limit=2)
    booking = plan.book(first.service_id, first.start, customer_name="Ana")
    assert booking.id is None and "#" not in booking.describe()  # no number before the commit
    assert first.start not in [s.start for s in plan.free_slots("limpeza-de-pele", limit=5)]
    assert first.start in [s.start for s in dp.free_slots("limpeza-de-pele", limit=5)]  # nothing written
    assert plan.book(first.service_id, first.start) == booking  # the same slot again is the same booking
    plan.book(second.service_id, second.start)  # a crew may book two slots in one turn
    assert [b.start for b in plan.bookings()] == [first.start, second.start]
    assert len(plan.changes) == 2 and dp.bookings_for("1:7") == []


def test_a_slot_full_in_the_store_is_refused_while_deciding(dp):
    slot = dp.free_slots("limpeza-de-pele", limit=1)[0]
    dp.book(slot.service_id, slot.start, conversation_key="1:99")
    with pytest.raises(SlotUnavailable):
        BookingPlan(dp, "1:7").book(slot.service_id, slot.start)


def test_a_cancel_in_the_turn_hides_the_booking_and_gives_its_seat_back(dp):
    slot = dp.free_slots("limpeza-de-pele", limit=1)[0]
    held = dp.book(slot.service_id, slot.start, conversation_key="1:7")
    plan = BookingPlan(dp, "1:7")
    assert plan.cancel(held.id) is True and plan.cancel(held.id) is False
    assert plan.bookings() == [] and dp.bookings_for("1:7") != []
    assert slot.start in [s.start for s in plan.free_slots("limpeza-de-pele", limit=1)]
    assert BookingPlan(dp, "1:8").cancel(held.id) is False  # not another conversation's


def test_the_crew_tools_book_two_slots_and_show_them_without_a_number(dp):
    box = ToolBox(dp, conversation_key="1:7", language="pt-BR", timezone="America/Sao_Paulo")
    first, second = dp.free_slots("limpeza-de-pele", limit=2)
    said = box.book_slot(first.service_id, first.start.isoformat())
    assert said.startswith("Limpeza de pele — ")
    box.book_slot(second.service_id, second.start.isoformat())
    listed = box.free_slots("limpeza-de-pele")
    assert first.start.isoformat() not in listed and second.start.isoformat() not in listed
    assert len(box.own_bookings()) == 2 and dp.bookings_for("1:7") == []


def test_a_commit_that_finds_the_seat_gone_keeps_nothing_of_the_turn(dp, tmp_path):
    conn = open_worker_store(dp.db_path)
    migrate_memory(conn)
    slot_a, slot_b = dp.free_slots("limpeza-de-pele", limit=2)
    plan = BookingPlan(dp, "1:7")
    plan.book(slot_a.service_id, slot_a.start)
    plan.book(slot_b.service_id, slot_b.start)
    dp.book(slot_b.service_id, slot_b.start, conversation_key="1:99")  # another turn took it meanwhile
    conn.execute("INSERT INTO events (account_id, conversation_id, kind, answerable, payload, received_at)"
                 " VALUES (1, 7, 'message_created', 1, '{}', 0)")
    record = outbox.TurnRecord(1, 7, (1,), "reply", "scheduling", "pt-BR", None, 0, 0, 0.0, 0.0, 0.0)
    state = conversations.load(conn, 1, 7)
    said = MemoryUpdate(1, 7, (Remembered("customer", "os dois", 70), Remembered("bot", "Pronto!")), state={"x": 1})
    with pytest.raises(SlotUnavailable):
        outbox.commit_turn(conn, record, [], [1], state, memory=[said], bookings=plan.changes)
    assert conn.execute("SELECT count(*) FROM turns").fetchone()[0] == 0
    assert conn.execute("SELECT state FROM events").fetchone()[0] == "pending"
    assert conn.execute("SELECT count(*) FROM ctx_turns").fetchone()[0] == 0
    assert dp.bookings_for("1:7") == [] and not conn.in_transaction
    conn.close()
