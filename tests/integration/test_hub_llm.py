"""The real Hub with the real SQLite store and the OpenAI-compatible fake over loopback HTTP."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

from app.hub.types import Turn, TurnAttachment, TurnMessage
from app.settings import EXAMPLE_KNOWLEDGE_DIR, Settings
from tests.fakes.llm import FakeLLM, message_text
from tests.support import commit_decision


@pytest.fixture(scope="session")
def crewai_loaded(tmp_path_factory):
    """crewai costs seconds to import: once per test session, offline-safe, files under tmp."""
    from app.hub.llm import import_crewai

    data = tmp_path_factory.mktemp("crewai-data")
    return import_crewai(Settings(data_dir=data, llm_model="fake-model"))


@pytest.fixture
def fake_llm():
    with FakeLLM() as fake:
        yield fake


def make_settings(tmp_path: Path, fake: FakeLLM | None, **overrides) -> Settings:
    values = dict(
        data_dir=tmp_path,
        knowledge_dir=EXAMPLE_KNOWLEDGE_DIR,
        llm_model="fake-model" if fake else None,
        llm_base_url=fake.base_url if fake else None,
        llm_api_key="test-key" if fake else None,
        llm_timeout_s=10.0,
        llm_max_calls_per_turn=3,
    )
    values.update(overrides)
    return Settings(**values)


def make_turn(text: str, conversation_id: int = 1, *, attachments=()) -> Turn:
    return Turn(account_id=1, conversation_id=conversation_id, contact_name="Ana",
                messages=(TurnMessage(message_id=conversation_id * 100, content=text, attachments=attachments),))


def decide(settings: Settings, turn: Turn):
    from app.hub.hub import Hub

    hub = Hub(settings)
    try:
        decision = asyncio.run(hub.decide(turn))
    finally:
        hub.close()
    commit_decision(settings.db_path, decision, turn.account_id, turn.conversation_id)  # as the worker does
    return decision


def system_prompts(fake: FakeLLM) -> list[str]:
    return [message_text(c.messages[0]) for c in fake.calls if c.messages and c.messages[0]["role"] == "system"]


@pytest.mark.parametrize(
    ("text", "intent", "role"),
    [
        ("Quanto custa o protetor solar facial?", "sales", "Sales Specialist"),
        ("Vocês fazem entrega para o Rio? Qual o prazo de entrega?", "support", "Support Specialist"),
        ("Quero agendar uma limpeza de pele", "scheduling", "Scheduling Specialist"),
    ],
)
def test_routing_sends_each_intent_to_its_crew(crewai_loaded, fake_llm, tmp_path, text, intent, role):
    decision = decide(make_settings(tmp_path, fake_llm), make_turn(text))

    assert decision.action == "reply", decision
    assert decision.intent == intent
    assert f"classified {intent} (llm)" in decision.steps
    assert f"crew {intent}" in decision.steps
    assert fake_llm.calls[0].response_format is not None  # the orchestrator's structured call
    assert any(role in p for p in system_prompts(fake_llm)[1:])
    assert 1 <= decision.llm_calls == len(fake_llm.calls) <= 3
    assert decision.prompt_tokens > 0


def test_other_intent_goes_to_support(crewai_loaded, fake_llm, tmp_path):
    fake_llm.push({"json": {"intent": "other", "language": "pt-BR"}})
    decision = decide(make_settings(tmp_path, fake_llm), make_turn("Bom dia!"))

    assert decision.action == "reply"
    assert "crew support" in decision.steps


def test_crew_tool_call_returns_real_catalog_data_in_reply(crewai_loaded, fake_llm, tmp_path):
    fake_llm.push(
        {"json": {"intent": "sales", "language": "pt-BR"}},
        {"tool_calls": [{"name": "search_products", "arguments": {"query": "protetor solar facial"}}]},
    )  # then the default script answers quoting the tool result
    decision = decide(make_settings(tmp_path, fake_llm), make_turn("Vocês têm algo para o sol?"))

    assert decision.action == "reply", decision
    assert "tool search_products" in decision.steps
    tool_messages = [m for m in fake_llm.calls[-1].messages if m.get("role") == "tool"]
    assert "Protetor Solar Facial FPS 50" in message_text(tool_messages[-1])
    assert "Protetor Solar Facial FPS 50" in decision.text
    assert "69,90" in decision.text or "69.90" in decision.text
    assert decision.llm_calls == 3


def test_budget_stops_a_fake_that_keeps_asking_for_tools(crewai_loaded, tmp_path):
    def greedy(request):
        if request.get("response_format"):
            return {"json": {"intent": "sales", "language": "pt-BR"}}
        return {"tool_calls": [{"name": "search_products", "arguments": {"query": "creme"}}]}

    with FakeLLM(script=greedy) as fake:
        decision = decide(make_settings(tmp_path, fake, llm_max_calls_per_turn=4), make_turn("Tem creme?"))

    assert decision.action == "handoff"
    assert "budget" in decision.reason
    assert decision.llm_calls <= 4
    assert len(fake.calls) <= 4
    assert decision.summary and "Tem creme?" in decision.summary


def test_llm_server_down_hands_off_within_timeout(crewai_loaded, tmp_path):
    fake = FakeLLM().start()
    settings = make_settings(tmp_path, fake, llm_timeout_s=3.0)
    fake.stop()  # nothing listens on that port any more: connection refused

    started = time.monotonic()
    decision = decide(settings, make_turn("Quanto custa o hidratante?"))
    elapsed = time.monotonic() - started
    print(f"LLM down: handed off after {elapsed:.2f} s (LLM_TIMEOUT_S=3)")

    assert decision.action == "handoff"
    assert "LLM failed" in decision.reason or "timed out" in decision.reason
    # A generous bound (the machine is shared): it fails only if the turn hangs on the refused
    # connection instead of handing off; the real figure is printed above.
    assert elapsed < 3.0 + 20.0


def test_slow_llm_past_timeout_hands_off(crewai_loaded, tmp_path):
    # The LLM answers nothing until the test lets it: a decision that comes back at all, with no
    # answer given, proves the turn stopped waiting on its own (an event, not a stopwatch).
    release, answered = threading.Event(), []

    def held(request):
        release.wait(60)
        answered.append(request)
        return {"json": {"intent": "sales", "language": "pt-BR"}} if request.get("response_format") else "ok"

    with FakeLLM(script=held) as fake:
        started = time.monotonic()
        decision = decide(make_settings(tmp_path, fake, llm_timeout_s=1.0), make_turn("Tem protetor solar?"))
        elapsed = time.monotonic() - started
        unanswered = not answered
        release.set()
    print(f"slow LLM: handed off after {elapsed:.2f} s (LLM_TIMEOUT_S=1)")

    assert unanswered, "the decision waited for the LLM's answer instead of timing out"
    assert decision.action == "handoff"
    assert "timed out" in decision.reason


def test_human_intent_hands_off_without_a_crew_call(crewai_loaded, fake_llm, tmp_path):
    decision = decide(make_settings(tmp_path, fake_llm), make_turn("Quero falar com um atendente, por favor"))

    assert decision.action == "handoff"
    assert decision.intent == "human"
    assert decision.llm_calls == 1 and len(fake_llm.calls) == 1
    assert not any(s.startswith("crew ") for s in decision.steps)


def test_audio_only_turn_is_acknowledged_without_llm(crewai_loaded, fake_llm, tmp_path):
    turn = make_turn("", attachments=(TurnAttachment(file_type="audio", data_url="http://x/a.ogg"),))
    decision = decide(make_settings(tmp_path, fake_llm), turn)

    assert decision.action == "reply"
    assert "áudio" in decision.text and "texto" in decision.text
    assert decision.llm_calls == 0 and fake_llm.calls == []


def test_without_llm_model_the_offline_path_answers(fake_llm, tmp_path):
    decision = decide(make_settings(tmp_path, None), make_turn("Quanto custa o protetor solar facial?"))

    assert decision.llm_calls == 0
    assert fake_llm.calls == []
    assert "classified sales (rules)" in decision.steps
    assert decision.action == "reply"
    assert "Protetor Solar" in decision.text


def test_context_carries_across_turns(crewai_loaded, fake_llm, tmp_path):
    settings = make_settings(tmp_path, fake_llm)
    first = decide(settings, make_turn("Quanto custa o hidratante facial?", 7))
    fake_llm.reset()
    decide(settings, make_turn("E o protetor solar?", 7))

    assert first.action == "reply"
    crew_prompt = " ".join(message_text(m) for m in fake_llm.calls[-1].messages)
    assert "Quanto custa o hidratante facial?" in crew_prompt  # the previous turn is in the history
