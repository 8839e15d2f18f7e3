"""DataProxy: the only access to business data — catalog, FAQ, services, bookings (docs/architecture.md#hub-and-crews).

Plain functions on one object; the crews wrap them as tools and the offline responder calls
them directly. crewai runs tools in threads, so every thread gets its own SQLite connection
(a connection must not be shared across threads while a transaction is open).

A turn books through a `BookingPlan`: it checks what it is asked against the store and what
the turn already intends, writes nothing, and hands its changes to the decision; the worker
commits them with the turn (`outbox.commit_turn`), capacity checked again in that transaction.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from app.language import search_terms
from app.store.bookings import Booking, BookingChange, BookingStore, Slot, SlotUnavailable, generate_slots
from app.store.db import Connection, PerThreadConnection
from app.store.knowledge import (
    Availability,
    BusinessInfo,
    FaqEntry,
    KnowledgeBase,
    Product,
    Service,
)

__all__ = [
    "Booking",
    "BookingChange",
    "BookingPlan",
    "BusinessInfo",
    "DataProxy",
    "FaqEntry",
    "Product",
    "Service",
    "Slot",
    "SlotUnavailable",
]


def _questions(text: str) -> list[str]:
    """The questions in a message (or a coalesced burst): split at ? ! . ; and line breaks."""
    parts = [part for part in re.split(r"[?!.;\n]+", text) if search_terms(part)]
    return parts or [text]


class DataProxy:
    def __init__(
        self,
        db_path: Path,
        knowledge_dir: Path,
        *,
        timezone: str = "America/Sao_Paulo",
        clock: Callable[[], datetime] | None = None,
        refresh_interval_s: float = 2.0,
        strict: bool = False,
    ):
        """`strict`: a knowledge directory that cannot be loaded now raises `KnowledgeError`
        (the worker's start, `chatwootai knowledge check`); later broken edits never raise."""
        self.db_path = Path(db_path)
        self.knowledge = KnowledgeBase(Path(knowledge_dir), check_interval_s=refresh_interval_s)
        self.tz = ZoneInfo(timezone)
        # business.yaml's own timezone wins when present; BUSINESS_TIMEZONE is the fallback
        self._default_tz = self.tz
        self._clock = clock or (lambda: datetime.now(UTC))
        self._connections = PerThreadConnection(self.db_path)
        conn = self._conn()
        KnowledgeBase.migrate(conn)
        BookingStore.migrate(conn)
        self.knowledge.refresh(conn, force=True, strict=strict)
        self._use_business_timezone()

    @classmethod
    def from_settings(cls, settings, *, strict: bool = False) -> DataProxy:  # noqa: ANN001 - app.settings.Settings
        return cls(settings.db_path, settings.knowledge_dir, timezone=settings.business_timezone, strict=strict)

    # ---- plumbing

    def _conn(self) -> Connection:
        return self._connections.get()

    def _now(self) -> datetime:
        now = self._clock()
        return now if now.tzinfo else now.replace(tzinfo=UTC)

    def now(self) -> datetime:
        """The injected clock's time in the business time zone."""
        return self._now().astimezone(self.tz)

    def refresh(self) -> bool:
        """Reload the knowledge files if they changed (checked at most every refresh_interval_s);
        True when new data was loaded."""
        reloaded = self.knowledge.refresh(self._conn())
        if reloaded:
            self._use_business_timezone()
        return reloaded

    def _use_business_timezone(self) -> None:
        business = self.knowledge.business(self._conn())
        self.tz = ZoneInfo(business.timezone) if business else self._default_tz

    @property
    def last_error(self) -> str | None:
        """The malformed file (name and line) that is being ignored, if any."""
        return str(self.knowledge.last_error) if self.knowledge.last_error else None

    # ---- catalog and FAQ

    def search_products(self, query: str, limit: int = 5) -> list[Product]:
        """The best matches of each question in `query`: a burst "quanto custa o protetor solar?
        e o hidratante?" is two searches (each keeps only its best matches), not one for both."""
        self.refresh()
        found: list[Product] = []
        for question in _questions(query):
            seen = {p.sku for p in found}
            found += [p for p in self.knowledge.search_products(self._conn(), question, limit) if p.sku not in seen]
        return found[: max(1, limit)]

    def product_detail(self, sku: str) -> Product | None:
        self.refresh()
        return self.knowledge.product(self._conn(), sku)

    def search_faq(self, query: str, limit: int = 3) -> list[FaqEntry]:
        self.refresh()
        return self.knowledge.search_faq(self._conn(), query, limit)

    def business_info(self) -> BusinessInfo:
        self.refresh()
        business = self.knowledge.business(self._conn())
        if business is None:  # nothing ever loaded: the knowledge dir was broken from the start
            return BusinessInfo(
                name="",
                description="",
                language="pt-BR",
                timezone=str(self._default_tz),
                hours={},
                handoff_message="",
                greeting="",
            )
        return business

    # ---- services and bookings

    def list_services(self) -> list[Service]:
        self.refresh()
        return self.knowledge.services(self._conn())

    def _service(self, service_id: str) -> Service | None:
        return next((s for s in self.knowledge.services(self._conn()) if s.id == service_id), None)

    def _availability(self) -> Availability | None:
        return self.knowledge.availability(self._conn())

    def free_slots(
        self, service_id: str | None = None, *, limit: int = 5, after: datetime | None = None,
        planned: Sequence[BookingChange] = (),
    ) -> list[Slot]:
        """The next free slots (of one service, or of all merged by time), soonest first;
        `planned`: a deciding turn's own changes count as if they were made."""
        self.refresh()
        availability = self._availability()
        if availability is None:
            return []
        services = self.knowledge.services(self._conn())
        if service_id is not None:
            services = [s for s in services if s.id == service_id]
        now = self._now()
        if after is not None and after.tzinfo is not None and after > now:
            now = after
        horizon = now + timedelta(days=availability.days_ahead + 1)
        taken = self._taken(now - timedelta(days=1), horizon, planned)
        slots: list[Slot] = []
        for service in services:
            for start, end in generate_slots(service, availability, now=now, tz=self.tz):
                left = availability.capacity - taken.get((service.id, int(start.timestamp())), 0)
                if left > 0:
                    slots.append(Slot(service.id, start, end, left, service.name))
        slots.sort(key=lambda s: (s.start, s.service_id))
        return slots[: max(0, limit)]

    def _taken(self, start: datetime, end: datetime, planned: Sequence[BookingChange]) -> dict[tuple[str, int], int]:
        taken = BookingStore.taken(self._conn(), start, end)
        for change in planned:
            if change.start is not None:
                key = (change.service_id, int(change.start.timestamp()))
                taken[key] = taken.get(key, 0) + (1 if change.kind == "book" else -1)
        return taken

    def _slot(self, service_id: str, start: datetime) -> tuple[datetime, datetime, int]:
        """(start, end, capacity) of a bookable slot of the service; SlotUnavailable otherwise."""
        service, availability = self._service(service_id), self._availability()
        if service is None or availability is None:
            raise SlotUnavailable(f"unknown service {service_id!r}")
        if start.tzinfo is None:
            start = start.replace(tzinfo=self.tz)
        wanted = int(start.timestamp())
        for s, e in generate_slots(service, availability, now=self._now(), tz=self.tz):
            if int(s.timestamp()) == wanted:
                return s, e, availability.capacity
        raise SlotUnavailable(f"{start.isoformat()} is not a bookable slot of {service_id}")

    def book(
        self,
        service_id: str,
        start: datetime,
        *,
        conversation_key: str,
        customer_name: str | None = None,
    ) -> Booking:
        """Book `start` for the conversation now; SlotUnavailable when full, past or not a slot.
        (Tests and tools set up the store with it; a turn books through its BookingPlan.)"""
        self.refresh()
        begin, end, capacity = self._slot(service_id, start)
        booking = BookingStore.book(self._conn(), service_id, begin, end, capacity=capacity,
                                    conversation_key=conversation_key, customer_name=customer_name)
        return self._localise(booking)

    def cancel_booking(self, booking_id: int) -> bool:
        return BookingStore.cancel(self._conn(), booking_id)

    def bookings_for(self, conversation_key: str) -> list[Booking]:
        """Active bookings of a conversation, past ones included, soonest first."""
        return [self._localise(b) for b in BookingStore.for_conversation(self._conn(), conversation_key)]

    def _localise(self, booking: Booking) -> Booking:
        service = self._service(booking.service_id)
        return replace(
            booking,
            start=booking.start.astimezone(self.tz),
            end=booking.end.astimezone(self.tz),
            service_name=service.name if service else booking.service_id,
        )

    def close(self) -> None:
        """Close this thread's connection (others close when their thread ends)."""
        self._connections.close()


class BookingPlan:
    """The bookings one turn makes or cancels, written nowhere until the turn commits.

    What it shows counts them: a slot the turn booked has a seat less, a booking it cancelled
    is gone from the conversation's list and gives its seat back. Booking tools of one turn may
    run in crewai's threads: a lock keeps each check-and-add whole.
    """

    def __init__(self, dataproxy: DataProxy, conversation_key: str):
        self.dp = dataproxy
        self.conversation_key = conversation_key
        self._changes: list[BookingChange] = []
        self._lock = threading.Lock()

    @property
    def changes(self) -> tuple[BookingChange, ...]:
        with self._lock:
            return tuple(self._changes)

    def free_slots(self, service_id: str | None = None, *, limit: int = 5,
                   after: datetime | None = None) -> list[Slot]:
        return self.dp.free_slots(service_id, limit=limit, after=after, planned=self.changes)

    def bookings(self) -> list[Booking]:
        """The conversation's active bookings as they will be: those this turn makes have no number yet."""
        with self._lock:
            return sorted(self._bookings(), key=lambda b: (b.start, b.id is None, b.id or 0))

    def book(self, service_id: str, start: datetime, *, customer_name: str | None = None) -> Booking:
        """Book for this turn; SlotUnavailable when full (this turn's bookings count), past or not a slot.
        A slot the conversation already holds is that booking, not a second one."""
        self.dp.refresh()
        begin, end, capacity = self.dp._slot(service_id, start)
        with self._lock:
            for booking in self._bookings():
                if booking.service_id == service_id and booking.start == begin:
                    return booking
            key = (service_id, int(begin.timestamp()))
            taken = self.dp._taken(begin, begin + timedelta(seconds=1), self._changes).get(key, 0)
            if taken >= capacity:
                raise SlotUnavailable(f"{service_id} at {begin.isoformat()} is full")
            change = BookingChange("book", self.conversation_key, service_id, begin, end, capacity, customer_name)
            self._changes.append(change)
        return self._planned(change)

    def cancel(self, booking_id: int) -> bool:
        """Cancel one of this conversation's bookings with the turn; False when it has no such booking."""
        with self._lock:
            booking = next((b for b in self._bookings() if b.id == booking_id), None)
            if booking is None:
                return False
            self._changes.append(BookingChange("cancel", self.conversation_key, booking.service_id, booking.start,
                                               booking.end, booking_id=booking_id))
        return True

    def _bookings(self) -> list[Booking]:
        cancelled = {c.booking_id for c in self._changes if c.kind == "cancel"}
        found = [b for b in self.dp.bookings_for(self.conversation_key) if b.id not in cancelled]
        return found + [self._planned(c) for c in self._changes if c.kind == "book"]

    def _planned(self, change: BookingChange) -> Booking:
        assert change.start is not None and change.end is not None
        return self.dp._localise(Booking(None, change.service_id, change.start, change.end, change.conversation_key,
                                         change.customer_name, None))
