"""DataProxy: the only access to business data — catalog, FAQ, services, bookings (SPEC §8).

Plain functions on one object; the crews wrap them as tools and the offline responder calls
them directly. crewai runs tools in threads, so every thread gets its own SQLite connection
(a connection must not be shared across threads while a transaction is open).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from app.language import search_terms
from app.store.bookings import Booking, BookingStore, Slot, SlotUnavailable, generate_slots
from app.store.db import PerThreadConnection
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

    def _conn(self) -> sqlite3.Connection:
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
        self, service_id: str | None = None, *, limit: int = 5, after: datetime | None = None
    ) -> list[Slot]:
        """The next free slots (of one service, or of all merged by time), soonest first."""
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
        taken = BookingStore.taken(self._conn(), now - timedelta(days=1), horizon)
        slots: list[Slot] = []
        for service in services:
            for start, end in generate_slots(service, availability, now=now, tz=self.tz):
                left = availability.capacity - taken.get((service.id, int(start.timestamp())), 0)
                if left > 0:
                    slots.append(Slot(service.id, start, end, left, service.name))
        slots.sort(key=lambda s: (s.start, s.service_id))
        return slots[: max(0, limit)]

    def book(
        self,
        service_id: str,
        start: datetime,
        *,
        conversation_key: str,
        customer_name: str | None = None,
    ) -> Booking:
        """Book `start` for the conversation; SlotUnavailable when full, past or not a slot."""
        self.refresh()
        service, availability = self._service(service_id), self._availability()
        if service is None or availability is None:
            raise SlotUnavailable(f"unknown service {service_id!r}")
        if start.tzinfo is None:
            start = start.replace(tzinfo=self.tz)
        wanted = int(start.timestamp())
        match = next(
            (
                (s, e)
                for s, e in generate_slots(service, availability, now=self._now(), tz=self.tz)
                if int(s.timestamp()) == wanted
            ),
            None,
        )
        if match is None:
            raise SlotUnavailable(f"{start.isoformat()} is not a bookable slot of {service_id}")
        booking = BookingStore.book(
            self._conn(),
            service_id,
            match[0],
            match[1],
            capacity=availability.capacity,
            conversation_key=conversation_key,
            customer_name=customer_name,
        )
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
