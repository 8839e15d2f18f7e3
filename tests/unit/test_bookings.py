"""Bookings: slots from availability in the business time zone, capacity held by the database."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from app.store.bookings import BookingStore, SlotUnavailable, generate_slots
from app.store.db import connect
from app.store.knowledge import Availability, Service

SP = ZoneInfo("America/Sao_Paulo")
CUT = Service("cut", "Haircut", 30, Decimal("20"))
# 2026-03-10 is a Tuesday; 12:30 UTC is 09:30 in São Paulo
NOW = datetime(2026, 3, 10, 12, 30, tzinfo=UTC)


def availability(**overrides) -> Availability:
    base = {"weekly": {"tue": ("09:00-11:00",), "thu": ("14:00-15:00",)}, "slot_minutes": 30,
            "capacity": 1, "days_ahead": 7}
    base.update(overrides)
    return Availability(**base)


def test_slots_follow_availability_in_business_timezone():
    slots = generate_slots(CUT, availability(), now=NOW, tz=SP)
    starts = [s.strftime("%a %H:%M") for s, _ in slots]
    # 09:00 and 09:30 are not after 09:30 local; thursday 14:00-15:00 gives two
    assert starts == ["Tue 10:00", "Tue 10:30", "Thu 14:00", "Thu 14:30"]
    assert all(s.tzinfo is SP for s, _ in slots)
    assert slots[0][0].astimezone(UTC).hour == 13  # 10:00 -03:00


def test_slot_must_fit_inside_the_span():
    long = Service("color", "Coloring", 90, Decimal("80"))
    slots = generate_slots(long, availability(), now=NOW - timedelta(hours=1), tz=SP)
    assert [s.strftime("%a %H:%M") for s, _ in slots] == ["Tue 09:00", "Tue 09:30"]


def test_days_ahead_bounds_the_horizon():
    one_day = generate_slots(CUT, availability(days_ahead=1), now=NOW, tz=SP)
    assert {s.date() for s, _ in one_day} == {datetime(2026, 3, 10).date()}
    two_weeks = generate_slots(CUT, availability(days_ahead=14), now=NOW, tz=SP)
    assert {s.strftime("%a") for s, _ in two_weeks} == {"Tue", "Thu"}
    assert max(s for s, _ in two_weeks).date() == datetime(2026, 3, 19).date()


def test_timezone_changes_which_slots_are_past():
    # at 12:30 UTC it is already 12:30 in London: all of Tuesday's London slots are gone
    london = generate_slots(CUT, availability(), now=NOW, tz=ZoneInfo("Europe/London"))
    assert london[0][0].strftime("%a %H:%M") == "Thu 14:00"


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "store.db"
    conn = connect(path)
    BookingStore.migrate(conn)
    yield path, conn
    conn.close()


def _slot():
    start = datetime(2026, 3, 12, 14, 0, tzinfo=SP)
    return start, start + timedelta(minutes=30)


def test_book_takes_first_free_seat_and_refuses_past_capacity(db):
    _, conn = db
    start, end = _slot()
    a = BookingStore.book(conn, "cut", start, end, capacity=2, conversation_key="1:1")
    b = BookingStore.book(conn, "cut", start, end, capacity=2, conversation_key="1:2")
    assert (a.seat, b.seat) == (1, 2)
    with pytest.raises(SlotUnavailable):
        BookingStore.book(conn, "cut", start, end, capacity=2, conversation_key="1:3")


def test_booking_again_from_the_same_conversation_returns_its_booking(db):
    # A turn redone after a crash books again: it must get the same seat, not a second one.
    _, conn = db
    start, end = _slot()
    first = BookingStore.book(conn, "cut", start, end, capacity=2, conversation_key="1:1")
    again = BookingStore.book(conn, "cut", start, end, capacity=2, conversation_key="1:1")
    assert again.id == first.id and again.seat == first.seat
    other = BookingStore.book(conn, "cut", start, end, capacity=2, conversation_key="1:2")
    assert other.seat == 2  # the repeat did not use up the second seat


def test_database_rejects_a_second_booking_of_the_same_seat(db):
    _, conn = db
    start, end = _slot()
    BookingStore.book(conn, "cut", start, end, capacity=1, conversation_key="1:1")
    import sqlite3

    with pytest.raises(sqlite3.IntegrityError):  # even a writer that skips the seat lookup
        conn.execute(
            "INSERT INTO bookings (service_id, slot_start, slot_end, seat, conversation_key, created_at) "
            "VALUES ('cut', ?, ?, 1, 'x', 0)",
            (int(start.timestamp()), int(end.timestamp())),
        )


def test_concurrent_booking_of_capacity_one_slot_books_exactly_once(db):
    path, _ = db
    start, end = _slot()
    barrier = threading.Barrier(8)
    results: list[str] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        conn = connect(path)  # each thread its own connection, as separate processes would
        barrier.wait()
        try:
            BookingStore.book(conn, "cut", start, end, capacity=1, conversation_key=f"1:{n}")
            outcome = "booked"
        except SlotUnavailable:
            outcome = "full"
        finally:
            conn.close()
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["booked"] + ["full"] * 7
    check = connect(path)
    assert check.execute("SELECT COUNT(*) FROM bookings WHERE seat IS NOT NULL").fetchone()[0] == 1
    check.close()


def test_cancel_frees_the_seat(db):
    _, conn = db
    start, end = _slot()
    booking = BookingStore.book(conn, "cut", start, end, capacity=1, conversation_key="1:1")
    assert BookingStore.cancel(conn, booking.id) is True
    assert BookingStore.cancel(conn, booking.id) is False  # already cancelled
    again = BookingStore.book(conn, "cut", start, end, capacity=1, conversation_key="1:2")
    assert again.seat == 1
    assert BookingStore.for_conversation(conn, "1:1") == []
    history = BookingStore.for_conversation(conn, "1:1", include_cancelled=True)
    assert [b.cancelled for b in history] == [True]


def test_times_are_stored_in_utc(db):
    _, conn = db
    start, end = _slot()
    booking = BookingStore.book(conn, "cut", start, end, capacity=1, conversation_key="1:1")
    stored = BookingStore.get(conn, booking.id)
    assert stored.start == start and stored.start.utcoffset() == timedelta(0)


def test_naive_datetimes_are_refused(db):
    _, conn = db
    with pytest.raises(ValueError):
        BookingStore.book(conn, "cut", datetime(2026, 3, 12, 14), datetime(2026, 3, 12, 15), capacity=1,
                          conversation_key="1:1")
