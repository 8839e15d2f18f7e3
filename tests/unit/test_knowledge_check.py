"""`chatwootai knowledge check`'s report (the CLI around it is tested with real processes in
tests/integration/test_knowledge_process.py)."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime

from app.hub.dataproxy import DataProxy
from app.hub.knowledge_check import check_knowledge, render
from app.settings import EXAMPLE_KNOWLEDGE_DIR

NOW = datetime(2026, 3, 10, 12, 30, tzinfo=UTC)  # a Tuesday, 09:30 in São Paulo


def test_report_of_the_example_lists_counts_and_the_next_free_slots():
    report = check_knowledge(EXAMPLE_KNOWLEDGE_DIR, now=NOW)
    assert report.ok and report.counts() == {"products": 20, "faq": 15, "services": 3}
    assert report.slots[0].start.isoformat() == "2026-03-10T10:00:00-03:00"
    text = render(report)
    assert "next free slots (no bookings counted):" in text
    assert "Design de sobrancelhas — ter, 10/03 às 10:00" in text


def test_seats_booked_in_the_appliances_store_are_not_offered(tmp_path):
    store = tmp_path / "chatwootai.db"
    dp = DataProxy(store, EXAMPLE_KNOWLEDGE_DIR, clock=lambda: NOW)
    first = dp.free_slots(limit=1)[0]
    dp.book(first.service_id, first.start, conversation_key="1:1")
    dp.close()
    report = check_knowledge(EXAMPLE_KNOWLEDGE_DIR, now=NOW, store=store)
    assert report.bookings_counted
    assert (first.service_id, first.start) not in {(s.service_id, s.start) for s in report.slots}
    assert len(report.slots) == 5
    assert "bookings in the store counted" in render(report)


def test_report_of_a_broken_copy_lists_every_problem(tmp_path):
    kdir = tmp_path / "k"
    shutil.copytree(EXAMPLE_KNOWLEDGE_DIR, kdir, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    (kdir / "faq.md").write_text("texto solto\n", encoding="utf-8")
    (kdir / "services.yaml").unlink()
    report = check_knowledge(kdir, now=NOW)
    assert not report.ok
    assert [e.location for e in report.errors] == ["faq.md:1", "services.yaml"]
    assert render(report).splitlines()[-1].startswith("2 problem(s)")
