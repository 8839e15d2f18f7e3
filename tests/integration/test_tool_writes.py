"""A crew tool that writes (a booking) never leaves a booking behind a handoff: it is refused once
the turn's budget is cancelled or its deadline has passed, and what it planned before a handoff
is never made (the hub writes nothing while it decides; only a reply's bookings are committed
with the turn). The real Hub, real SQLite, the LLM fake over loopback HTTP."""

from __future__ import annotations

import asyncio
import time

import pytest
from loguru import logger

from app.hub.dataproxy import DataProxy
from app.hub.types import Decision, Turn, TurnMessage
from app.settings import EXAMPLE_KNOWLEDGE_DIR, Settings
from tests.fakes.llm import FakeLLM
from tests.support import commit_decision

CONVERSATION = 41


@pytest.fixture(scope="session")
def crewai_loaded(tmp_path_factory):
    from app.hub.llm import import_crewai

    return import_crewai(Settings(data_dir=tmp_path_factory.mktemp("crewai-data"), llm_model="fake-model"))


@pytest.fixture
def warnings():
    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(str(message)), level="WARNING")
    yield lines
    logger.remove(sink)


def settings_for(tmp_path, fake: FakeLLM, **overrides) -> Settings:
    values = dict(data_dir=tmp_path, knowledge_dir=EXAMPLE_KNOWLEDGE_DIR, llm_model="fake-model",
                  llm_base_url=fake.base_url, llm_api_key="test-key", llm_timeout_s=10.0, llm_max_calls_per_turn=3)
    return Settings(**(values | overrides))


def booking_script(slot, *, classify_delay: float = 0.0, tool_delay: float = 0.0, after_tool=None):
    """Classify as scheduling; the crew books `slot`; then `after_tool` (text by default)."""

    def script(request):
        if request.get("response_format"):
            return {"json": {"intent": "scheduling", "language": "pt-BR"}, "delay": classify_delay}
        if any(m.get("role") == "tool" for m in request.get("messages") or []):
            return after_tool or "Pronto, sua limpeza de pele está reservada!"
        call = {"name": "book_slot", "arguments": {"service_id": slot.service_id, "start": slot.start.isoformat()}}
        return {"tool_calls": [call], "delay": tool_delay}

    return script


def first_free_slot(settings: Settings):
    dp = DataProxy.from_settings(settings)
    try:
        return dp.free_slots(None, limit=1)[0]
    finally:
        dp.close()


def active_bookings(settings: Settings) -> list:
    dp = DataProxy.from_settings(settings)
    try:
        return dp.bookings_for(f"1:{CONVERSATION}")
    finally:
        dp.close()


def commit(settings: Settings, decision: Decision) -> None:
    commit_decision(settings.db_path, decision, 1, CONVERSATION)


def decide(settings: Settings, text: str = "Quero agendar uma limpeza de pele", *, linger: float = 0.0):
    """One turn through a real Hub; `linger` keeps it open while an abandoned crew runs on."""
    from app.hub.hub import Hub

    hub = Hub(settings)
    turn = Turn(account_id=1, conversation_id=CONVERSATION, contact_name="Ana",
                messages=(TurnMessage(message_id=4100, content=text),))
    try:
        decision = asyncio.run(hub.decide(turn))
        time.sleep(linger)
        return decision
    finally:
        hub.close()


def late_booking_script(slot, timeout: float):
    """A slow model: every call answers within its own LLM_TIMEOUT_S, but the book_slot call
    reaches the crew about 0.5 s after the turn's deadline (a read tool call first if needed)."""
    started: list[float] = []
    book = {"name": "book_slot", "arguments": {"service_id": slot.service_id, "start": slot.start.isoformat()}}

    def script(request):
        now = time.monotonic()
        if request.get("response_format"):
            started.append(now)
            return {"json": {"intent": "scheduling", "language": "pt-BR"}}
        called = [tc["function"]["name"] for m in request.get("messages") or [] for tc in m.get("tool_calls") or []]
        if "book_slot" in called:
            return "Pronto, sua limpeza de pele está reservada!"
        left = started[0] + timeout + 0.5 - now
        if left <= 0.8 * timeout:
            return {"tool_calls": [book], "delay": max(0.0, left)}
        return {"tool_calls": [{"name": "free_slots", "arguments": {}}], "delay": 0.7 * timeout}

    return script


def test_booking_tool_refuses_once_the_turn_timed_out(crewai_loaded, tmp_path, warnings):
    with FakeLLM() as fake:
        settings = settings_for(tmp_path, fake, llm_timeout_s=3.0, llm_max_calls_per_turn=6)
        fake.script = late_booking_script(first_free_slot(settings), 3.0)
        decision = decide(settings)
        assert decision.action == "handoff" and "timed out" in decision.reason
        # The abandoned crew gets its book_slot call after the handoff and tries to book.
        deadline = time.monotonic() + 15
        while not any("book_slot refused" in line for line in warnings):
            assert time.monotonic() < deadline, f"the abandoned crew never tried to book: {fake.calls}"
            time.sleep(0.1)
    assert decision.bookings == ()
    commit(settings, decision)
    assert active_bookings(settings) == []  # the customer was handed off, not booked
    assert any("the turn was handed off" in line or "deadline" in line for line in warnings)


def test_a_booking_planned_before_a_handoff_is_never_made(crewai_loaded, tmp_path):
    with FakeLLM() as fake:
        settings = settings_for(tmp_path, fake)
        # The crew books, then the model fails on the answer that would have told the customer.
        fake.script = booking_script(first_free_slot(settings), after_tool={"status": 500, "body": {"error": "boom"}})
        decision = decide(settings)
    assert decision.action == "handoff" and "tool book_slot" in decision.steps
    assert active_bookings(settings) == []  # nothing written while deciding
    assert decision.bookings == ()
    commit(settings, decision)
    assert active_bookings(settings) == []


def test_booking_tool_refuses_without_a_call_left_to_tell_the_customer(crewai_loaded, tmp_path):
    with FakeLLM() as fake:
        settings = settings_for(tmp_path, fake, llm_max_calls_per_turn=2)  # classification + tool round
        fake.script = booking_script(first_free_slot(settings))
        decision = decide(settings)
    assert decision.action == "handoff"
    assert any("book_slot refused: no LLM call is left" in step for step in decision.steps)
    commit(settings, decision)
    assert active_bookings(settings) == []


def test_booking_in_time_is_kept_and_told(crewai_loaded, tmp_path):
    with FakeLLM() as fake:
        settings = settings_for(tmp_path, fake)
        slot = first_free_slot(settings)
        fake.script = booking_script(slot)
        decision = decide(settings)
    assert decision.action == "reply" and "reservada" in decision.text
    assert active_bookings(settings) == []  # decided, not yet committed: nothing written
    [change] = decision.bookings
    assert (change.kind, change.service_id, change.start) == ("book", slot.service_id, slot.start)
    commit(settings, decision)
    [booking] = active_bookings(settings)
    assert booking.start == slot.start
