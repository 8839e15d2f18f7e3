"""`chatwootai knowledge check [DIR]`: load a knowledge directory as the worker would and say
what it found — or every problem with its file and line.

The files are parsed by the worker's own parser, then loaded through a DataProxy into a
throw-away store (never the appliance's), which also computes the next free slots the
offline responder would offer. Nothing here writes outside a temporary directory.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path

from app.hub.dataproxy import DataProxy, Slot
from app.store.bookings import BookingStore
from app.store.db import DatabaseError, connect_readonly
from app.store.knowledge import Knowledge, KnowledgeError, parse_knowledge_dir

SLOTS_SHOWN = 5


@dataclass
class KnowledgeReport:
    directory: Path
    errors: list[KnowledgeError] = field(default_factory=list)
    knowledge: Knowledge | None = None
    slots: list[Slot] = field(default_factory=list)
    bookings_counted: bool = False  # the appliance's store was read for seats already taken

    @property
    def ok(self) -> bool:
        return not self.errors and self.knowledge is not None

    def counts(self) -> dict[str, int]:
        k = self.knowledge
        if k is None:
            return {}
        return {"products": len(k.products), "faq": len(k.faq), "services": len(k.services)}


def check_knowledge(
    directory: Path,
    *,
    timezone: str = "America/Sao_Paulo",
    now: datetime | None = None,
    store: Path | None = None,
) -> KnowledgeReport:
    """Parse as the worker does, load into a throw-away store, list the next free slots; with
    `store` (the appliance's database, read only) the seats already booked there are counted."""
    report = KnowledgeReport(Path(directory))
    try:
        report.knowledge = parse_knowledge_dir(report.directory)
    except KnowledgeError as exc:
        report.errors = list(exc.errors)
        return report
    with tempfile.TemporaryDirectory(prefix="chatwootai-knowledge-check-") as tmp:
        clock = (lambda: now) if now is not None else None
        dp = DataProxy(
            Path(tmp) / "check.db", report.directory, timezone=timezone, clock=clock, strict=True,
            refresh_interval_s=3600,
        )  # fmt: skip
        try:
            candidates = dp.free_slots(limit=SLOTS_SHOWN * 20)
        finally:
            dp.close()
    taken = _taken(store, candidates)
    report.bookings_counted = taken is not None
    capacity = report.knowledge.availability.capacity
    for slot in candidates:
        left = capacity - (taken or {}).get((slot.service_id, int(slot.start.timestamp())), 0)
        if left > 0:
            report.slots.append(replace(slot, seats_left=left))
        if len(report.slots) == SLOTS_SHOWN:
            break
    return report


def _taken(store: Path | None, slots: list[Slot]) -> dict[tuple[str, int], int] | None:
    """Seats held in the appliance's store (opened read only), or None when it cannot be read."""
    if store is None or not Path(store).is_file() or not slots:
        return None
    try:
        conn = connect_readonly(store, timeout=5.0)
    except DatabaseError:
        return None
    try:
        return BookingStore.taken(conn, slots[0].start, slots[-1].start + timedelta(seconds=1))
    except DatabaseError:
        return None  # no bookings table yet: nothing booked
    finally:
        conn.close()


def render(report: KnowledgeReport) -> str:
    """The report as the terminal shows it: ✓ per file with what it holds, or ✗ file:line problem."""
    out = [f"knowledge directory: {report.directory}"]
    if not report.ok:
        out += [f"✗ {error.location}: {error.problem}" for error in report.errors]
        out.append(
            f"{len(report.errors)} problem(s): the worker refuses to start with this directory "
            "(a running worker keeps serving its previous data)."
        )
        return "\n".join(out)
    k = report.knowledge
    assert k is not None
    lang = k.business.language
    b = k.business
    out.append(f"✓ business.yaml  {b.name} (language {b.language}, time zone {b.timezone})")
    out.append(f"    hours: {b.describe_hours(lang)}")
    for label, value in (("address", b.address), ("phone", b.phone), ("website", b.website)):
        if value:
            out.append(f"    {label}: {value}")
    untracked = sum(1 for p in k.products if p.stock is None)
    sold_out = sum(1 for p in k.products if not p.in_stock)
    out.append(
        f"✓ catalog.csv    {len(k.products)} products ({sold_out} out of stock"
        + (f", {untracked} without stock tracking" if untracked else "")
        + ")"
    )
    out += [f"    {p.sku}  {p.describe(lang)}" for p in k.products]
    out.append(f"✓ faq.md         {len(k.faq)} questions")
    out += [f"    - {entry.question}" for entry in k.faq]
    a = k.availability
    out.append(
        f"✓ services.yaml  {len(k.services)} services; slots every {a.slot_minutes} min, "
        f"{a.capacity} booking(s) per slot, {a.days_ahead} days ahead"
    )
    out += [f"    {s.id}: {s.describe(lang)}" for s in k.services]
    week = "; ".join(f"{day} {', '.join(spans) or '-'}" for day, spans in a.weekly.items()) or "none"
    out.append(f"    availability: {week}")
    if report.slots:
        counted = "bookings in the store counted" if report.bookings_counted else "no bookings counted"
        out.append(f"    next free slots ({counted}):")
        out += [f"      {slot.describe(lang)}" for slot in report.slots]
    else:
        out.append("    next free slots: none in the coming days (check availability and days_ahead)")
    out.append("OK: the worker loads this directory.")
    return "\n".join(out)
