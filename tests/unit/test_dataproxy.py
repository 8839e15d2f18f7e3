"""DataProxy: the one door to business data, safe from several threads, slots and bookings."""

from __future__ import annotations

import shutil
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from app.hub.dataproxy import DataProxy, SlotUnavailable
from app.settings import EXAMPLE_KNOWLEDGE_DIR, Settings

EN_SHOP = Path(__file__).resolve().parents[1] / "fixtures" / "knowledge" / "en_shop"
# Tuesday 2026-03-10, 09:30 in São Paulo
NOW = datetime(2026, 3, 10, 12, 30, tzinfo=UTC)


@pytest.fixture
def clock():
    return [NOW]


@pytest.fixture
def dp(tmp_path, clock):
    proxy = DataProxy(tmp_path / "store.db", EXAMPLE_KNOWLEDGE_DIR, clock=lambda: clock[0])
    yield proxy
    proxy.close()


def test_from_settings_uses_data_dir_and_knowledge_dir(tmp_path):
    settings = Settings.from_env({"WEBHOOK_AUTH_TOKEN": "t", "DATA_DIR": str(tmp_path)})
    proxy = DataProxy.from_settings(settings)
    assert proxy.db_path == settings.db_path and settings.db_path.exists()
    assert proxy.business_info().name == "Bella Pele Cosméticos"


def test_search_products_returns_typed_products(dp):
    product = dp.search_products("hidratante facial", limit=1)[0]
    assert product.sku == "BP-001" and product.price == Decimal("49.90") and product.in_stock
    assert dp.product_detail("BP-004").in_stock is False


def test_search_faq_returns_scored_entries(dp):
    entries = dp.search_faq("qual o endereço da loja?")
    assert entries[0].question.startswith("Onde fica a loja?")
    assert entries[0].score >= 0.5
    assert entries == sorted(entries, key=lambda e: e.score, reverse=True)


def test_business_info_and_services(dp):
    info = dp.business_info()
    assert info.hours["sat"] == ("09:00-13:00",)
    assert "Rua Augusta" in info.describe()
    assert [s.id for s in dp.list_services()][0] == "limpeza-de-pele"
    assert dp.list_services()[0].describe() == "Limpeza de pele — R$ 150,00 (60 min)"


def test_free_slots_in_business_timezone_soonest_first(dp):
    slots = dp.free_slots("limpeza-de-pele", limit=3)
    assert [s.start.strftime("%a %H:%M") for s in slots] == ["Tue 10:00", "Tue 11:00", "Tue 14:00"]
    assert str(slots[0].start.tzinfo) == "America/Sao_Paulo"
    assert slots[0].end - slots[0].start == timedelta(minutes=60)
    assert slots[0].seats_left == 1
    assert slots[0].describe() == "Limpeza de pele — ter, 10/03 às 10:00"


def test_free_slots_after_a_date(dp):
    after = datetime(2026, 3, 13, 23, 0, tzinfo=UTC)  # Friday evening São Paulo
    slots = dp.free_slots("limpeza-de-pele", limit=1, after=after)
    assert slots[0].start.strftime("%a %d %H:%M") == "Sat 14 09:00"


def test_free_slots_stop_at_days_ahead(dp):
    slots = dp.free_slots("limpeza-de-pele", limit=1000)
    assert max(s.start for s in slots).date() < (NOW + timedelta(days=14)).date()


def test_business_yaml_timezone_wins(tmp_path):
    proxy = DataProxy(tmp_path / "s.db", EN_SHOP, clock=lambda: NOW)
    slot = proxy.free_slots("haircut", limit=1)[0]
    assert str(slot.start.tzinfo) == "Europe/London"
    assert slot.start.strftime("%a %H:%M") == "Wed 13:00"  # Monday is after; Tuesday has no hours
    assert proxy.list_services()[0].describe() == "Haircut — GBP 20.00 (30 min)"


def test_book_then_slot_is_gone_and_listed_for_conversation(dp):
    slot = dp.free_slots("limpeza-de-pele", limit=1)[0]
    booking = dp.book(slot.service_id, slot.start, conversation_key="1:7", customer_name="Ana")
    assert booking.start == slot.start and booking.service_name == "Limpeza de pele"
    assert slot.start not in [s.start for s in dp.free_slots("limpeza-de-pele", limit=5)]
    assert [b.id for b in dp.bookings_for("1:7")] == [booking.id]
    with pytest.raises(SlotUnavailable):
        dp.book(slot.service_id, slot.start, conversation_key="1:8")


def test_cancel_booking_frees_the_slot(dp):
    slot = dp.free_slots("limpeza-de-pele", limit=1)[0]
    booking = dp.book(slot.service_id, slot.start, conversation_key="1:7")
    assert dp.cancel_booking(booking.id) is True
    assert dp.free_slots("limpeza-de-pele", limit=1)[0].start == slot.start
    assert dp.bookings_for("1:7") == []


def test_book_refuses_a_time_that_is_not_a_slot(dp):
    with pytest.raises(SlotUnavailable, match="not a bookable slot"):
        dp.book("limpeza-de-pele", datetime(2026, 3, 10, 10, 15, tzinfo=dp.tz), conversation_key="1:1")
    with pytest.raises(SlotUnavailable, match="not a bookable slot"):  # Sunday: no availability
        dp.book("limpeza-de-pele", datetime(2026, 3, 15, 10, 0, tzinfo=dp.tz), conversation_key="1:1")


def test_book_refuses_a_past_slot(dp, clock):
    slot = dp.free_slots("limpeza-de-pele", limit=1)[0]
    clock[0] = slot.start.astimezone(UTC) + timedelta(minutes=1)
    with pytest.raises(SlotUnavailable):
        dp.book(slot.service_id, slot.start, conversation_key="1:1")


def test_book_refuses_an_unknown_service(dp):
    with pytest.raises(SlotUnavailable, match="unknown service"):
        dp.book("tattoo", NOW, conversation_key="1:1")


def test_safe_from_several_threads(dp):
    slot = dp.free_slots("massagem-relaxante", limit=1)[0]
    outcomes: list[str] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def tool_call(n: int) -> None:
        try:
            barrier.wait()
            dp.search_products("protetor")
            try:
                dp.book(slot.service_id, slot.start, conversation_key=f"1:{n}")
                outcomes.append("booked")
            except SlotUnavailable:
                outcomes.append("full")
        except BaseException as exc:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=tool_call, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(outcomes) == ["booked"] + ["full"] * 5


def test_malformed_knowledge_change_keeps_serving(tmp_path):
    kdir = tmp_path / "k"
    shutil.copytree(EXAMPLE_KNOWLEDGE_DIR, kdir, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    proxy = DataProxy(tmp_path / "s.db", kdir, clock=lambda: NOW, refresh_interval_s=0)
    (kdir / "services.yaml").write_text("services: [\n", encoding="utf-8")
    proxy.refresh()
    assert proxy.last_error and proxy.last_error.startswith("services.yaml:")
    assert len(proxy.list_services()) == 3
