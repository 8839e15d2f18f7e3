"""Bookings: slots computed from services.yaml, seats held by the database (docs/operations.md#knowledge-directory).

Capacity is enforced by a UNIQUE (service_id, slot_start, seat) constraint with seat in
1..capacity, not by a check-then-insert: two workers (threads or processes) racing for the
last seat cannot both get it, because a seat number can only be inserted once. A cancelled
booking keeps its row for the record but gives its seat back (seat set to NULL; SQLite lets
any number of NULLs through a UNIQUE index).

Times are stored as UTC epoch seconds; slots are computed in the business time zone.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from app.errors import ChatwootAIError
from app.store.db import Connection, Row, migrate, transaction
from app.store.knowledge import Availability, Service
from app.texts import texts_for
from app.timespec import WEEKDAYS, span_minutes

BOOKINGS_MIGRATIONS = [
    """
    CREATE TABLE bookings (
        id INTEGER PRIMARY KEY,
        service_id TEXT NOT NULL,
        slot_start INTEGER NOT NULL,           -- UTC epoch seconds
        slot_end INTEGER NOT NULL,
        seat INTEGER CHECK (seat IS NULL OR seat >= 1),  -- NULL once cancelled
        conversation_key TEXT NOT NULL,        -- "{account_id}:{conversation_id}"
        customer_name TEXT,
        created_at REAL NOT NULL,
        cancelled_at REAL,
        UNIQUE (service_id, slot_start, seat)
    );
    CREATE INDEX bookings_by_conversation ON bookings (conversation_key, slot_start);
    CREATE INDEX bookings_by_slot ON bookings (slot_start);
    """,
]


class SlotUnavailable(ChatwootAIError):
    """The requested time is full, in the past, or not one of the service's slots."""


def when(start: datetime, language: str = "pt-BR") -> str:
    """"sex., 14/03 às 10:00" / "Fri 03/14 at 10:00" — short, unambiguous in a chat."""
    texts = texts_for(language)
    return texts.say("slot_when", day=texts.weekdays_short[start.weekday()], start=start)


@dataclass(frozen=True)
class Slot:
    service_id: str
    start: datetime  # aware, business time zone
    end: datetime
    seats_left: int
    service_name: str = ""

    def describe(self, language: str = "pt-BR") -> str:
        name = f"{self.service_name} — " if self.service_name else ""
        return name + when(self.start, language)


@dataclass(frozen=True)
class Booking:
    id: int | None  # None: intended by a turn still deciding; the store gives it a number at commit
    service_id: str
    start: datetime  # aware; the DataProxy hands them out in the business time zone
    end: datetime
    conversation_key: str
    customer_name: str | None
    seat: int | None  # None when cancelled
    cancelled: bool = False
    service_name: str = ""

    def describe(self, language: str = "pt-BR") -> str:
        name = self.service_name or self.service_id
        # A booking not yet committed has no number: its text never shows one that may not exist.
        number = f"#{self.id} " if self.id is not None else ""
        text = f"{number}{name} — {when(self.start, language)}"
        if self.cancelled:
            text += texts_for(language)["cancelled_mark"]
        return text


@dataclass(frozen=True)
class BookingChange:
    """One booking a turn makes ("book") or cancels ("cancel"), applied with the turn's commit
    (`apply_changes` inside `outbox.commit_turn`): a turn that is redone or handed off made none."""

    kind: str  # book | cancel
    conversation_key: str
    service_id: str = ""
    start: datetime | None = None  # aware
    end: datetime | None = None
    capacity: int = 0
    customer_name: str | None = None
    booking_id: int | None = None  # the booking a "cancel" gives back


def generate_slots(
    service: Service, availability: Availability, *, now: datetime, tz: ZoneInfo
) -> list[tuple[datetime, datetime]]:
    """Every (start, end) of `service` bookable after `now`, in `tz`, days_ahead days from today.

    Today counts as the first day: days_ahead=1 means "only today". A slot must fit entirely
    inside one availability span (a 60-min service is not offered at 11:30 in 10:00-12:00).
    """
    local_now = now.astimezone(tz)
    out: list[tuple[datetime, datetime]] = []
    step = timedelta(minutes=availability.slot_minutes)
    length = timedelta(minutes=service.duration_min)
    for offset in range(availability.days_ahead):
        day: date = local_now.date() + timedelta(days=offset)
        for span in availability.weekly.get(WEEKDAYS[day.weekday()], ()):
            opens, closes = span_minutes(span)
            begin, finish = _at(day, opens, tz), _at(day, closes, tz)
            start = begin
            while start + length <= finish:
                if start > local_now:
                    out.append((start, start + length))
                start += step
    return out


def _at(day: date, minutes: int, tz: ZoneInfo) -> datetime:
    # minutes after midnight: 1440 ("24:00") closes a span at midnight
    return datetime(day.year, day.month, day.day, tzinfo=tz) + timedelta(minutes=minutes)


def _epoch(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("naive datetime: slots and bookings need a time zone")
    return int(moment.timestamp())


class BookingStore:
    """Thin SQL over the bookings table; callers pass their own (per-thread) connection."""

    @staticmethod
    def migrate(conn: Connection) -> None:
        migrate(conn, "bookings", BOOKINGS_MIGRATIONS)

    @staticmethod
    def taken(conn: Connection, start: datetime, end: datetime) -> dict[tuple[str, int], int]:
        """(service_id, slot_start epoch) → seats held, for slots starting in [start, end)."""
        rows = conn.execute(
            "SELECT service_id, slot_start, COUNT(*) AS n FROM bookings "
            "WHERE seat IS NOT NULL AND slot_start >= ? AND slot_start < ? GROUP BY service_id, slot_start",
            (_epoch(start), _epoch(end)),
        ).fetchall()
        return {(r["service_id"], r["slot_start"]): r["n"] for r in rows}

    @staticmethod
    def book(
        conn: Connection,
        service_id: str,
        start: datetime,
        end: datetime,
        *,
        capacity: int,
        conversation_key: str,
        customer_name: str | None = None,
    ) -> Booking:
        """Take the first free seat of the slot (or return this conversation's booking of it)
        or raise SlotUnavailable.

        BEGIN IMMEDIATE serialises writers so the free-seat lookup is current; the UNIQUE
        constraint is the guarantee even if some other writer skipped that step.
        """
        with transaction(conn):
            return _insert(conn, service_id, start, end, capacity=capacity, conversation_key=conversation_key,
                           customer_name=customer_name)

    @staticmethod
    def cancel(conn: Connection, booking_id: int) -> bool:
        """Give the seat back; False when there is no such active booking."""
        cursor = conn.execute(
            "UPDATE bookings SET seat = NULL, cancelled_at = ? WHERE id = ? AND seat IS NOT NULL",
            (time.time(), booking_id),
        )
        return cursor.rowcount == 1

    @staticmethod
    def for_conversation(
        conn: Connection, conversation_key: str, *, include_cancelled: bool = False
    ) -> list[Booking]:
        sql = "SELECT * FROM bookings WHERE conversation_key = ?"
        if not include_cancelled:
            sql += " AND seat IS NOT NULL"
        rows = conn.execute(sql + " ORDER BY slot_start, id", (conversation_key,)).fetchall()
        return [_from_row(r) for r in rows]

    @staticmethod
    def get(conn: Connection, booking_id: int) -> Booking | None:
        row = conn.execute("SELECT * FROM bookings WHERE id = ?", (booking_id,)).fetchone()
        return _from_row(row) if row else None


def apply_changes(conn: Connection, changes: Sequence[BookingChange]) -> list[Booking]:
    """A turn's booking changes, inside the caller's transaction (BEGIN IMMEDIATE: the seat
    lookup is current). SlotUnavailable when a seat went meanwhile: the caller's transaction
    rolls back, so nothing of the turn is committed."""
    made = []
    for change in changes:
        if change.kind == "book":
            if change.start is None or change.end is None:
                raise ValueError("a booking needs its start and end")
            made.append(_insert(conn, change.service_id, change.start, change.end, capacity=change.capacity,
                                conversation_key=change.conversation_key, customer_name=change.customer_name))
        elif change.kind == "cancel":
            conn.execute(
                "UPDATE bookings SET seat = NULL, cancelled_at = ? WHERE id = ? AND conversation_key = ?"
                " AND seat IS NOT NULL",
                (time.time(), change.booking_id, change.conversation_key),
            )
        else:
            raise ValueError(f"unknown booking change {change.kind!r}")
    return made


def _insert(conn: Connection, service_id: str, start: datetime, end: datetime, *, capacity: int,
            conversation_key: str, customer_name: str | None) -> Booking:
    """The first free seat of the slot, or this conversation's booking of it; SlotUnavailable."""
    slot_start, slot_end = _epoch(start), _epoch(end)
    # Idempotent per conversation: asking again for a slot the conversation holds is that booking.
    mine = conn.execute(
        "SELECT * FROM bookings WHERE service_id = ? AND slot_start = ? AND conversation_key = ?"
        " AND seat IS NOT NULL",
        (service_id, slot_start, conversation_key),
    ).fetchone()
    if mine is not None:
        return _from_row(mine)
    held = {
        r["seat"]
        for r in conn.execute(
            "SELECT seat FROM bookings WHERE service_id = ? AND slot_start = ? AND seat IS NOT NULL",
            (service_id, slot_start),
        )
    }
    seat = next((s for s in range(1, capacity + 1) if s not in held), None)
    if seat is None:
        raise SlotUnavailable(f"{service_id} at {start.isoformat()} is full")
    try:
        cursor = conn.execute(
            "INSERT INTO bookings (service_id, slot_start, slot_end, seat, conversation_key, "
            "customer_name, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (service_id, slot_start, slot_end, seat, conversation_key, customer_name, time.time()),
        )
    except sqlite3.IntegrityError:
        raise SlotUnavailable(f"{service_id} at {start.isoformat()} was just taken") from None
    return Booking(cursor.lastrowid, service_id, start, end, conversation_key, customer_name, seat, False)


def _from_row(row: Row) -> Booking:
    utc = ZoneInfo("UTC")
    return Booking(
        id=row["id"],
        service_id=row["service_id"],
        start=datetime.fromtimestamp(row["slot_start"], utc),
        end=datetime.fromtimestamp(row["slot_end"], utc),
        conversation_key=row["conversation_key"],
        customer_name=row["customer_name"],
        seat=row["seat"],
        cancelled=row["seat"] is None,
    )
