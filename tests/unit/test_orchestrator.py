"""The orchestrator's pure parts and the per-turn budget: no network, no crewai."""

from __future__ import annotations

import json

import pytest

from app.hub.llm import BudgetExceeded, TurnBudget, resolve_model
from app.hub.orchestrator import (
    ClassificationAnswer,
    Orchestrator,
    build_messages,
    normalize_language,
    parse_classification,
    recent_lines,
)
from app.settings import Settings


class StubLLM:
    """Answers one canned text, like crewai's LLM.call; counts calls."""

    def __init__(self, answer):
        self.answer = answer
        self.calls = 0

    def call(self, messages):
        self.calls += 1
        return self.answer


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('{"intent": "sales", "language": "pt-BR"}', ("sales", "pt-BR")),
        ('```json\n{"intent": "Scheduling", "language": "en"}\n```', ("scheduling", "en")),
        ('Sure! {"intent": "human", "language": "Portuguese"}', ("human", "pt-BR")),
        ('{"intent": "booking", "language": "pt_br"}', ("scheduling", "pt-BR")),
        ('{"intent": "support"}', ("support", "pt-BR")),
        (ClassificationAnswer(intent="other", language="es"), ("other", "es")),
    ],
)
def test_parse_classification_accepts_what_models_send(raw, expected):
    assert parse_classification(raw, "pt-BR") == expected


@pytest.mark.parametrize("raw", ["", "sales", '{"intent": "weather"}', "{not json}", '["sales"]', None])
def test_parse_classification_rejects_unusable_answers(raw):
    assert parse_classification(raw, "pt-BR") is None


def test_normalize_language_defaults_on_garbage():
    assert normalize_language("EN-us", "pt-BR") == "en"
    assert normalize_language("fr-ca", "pt-BR") == "fr-CA"
    assert normalize_language("the customer speaks klingon", "pt-BR") == "pt-BR"
    assert normalize_language(None, "en") == "en"


def test_classification_prompt_is_short_and_fences_the_customer():
    history = [f"customer: line {i}" for i in range(10)]
    messages = build_messages("quanto custa?", history, "asked about sunscreen")

    assert messages[0]["role"] == "system" and "JSON" in messages[0]["content"]
    user = messages[1]["content"]
    assert "<customer>quanto custa?</customer>" in user
    assert "line 9" in user and "line 5" not in user  # only the last lines go in
    assert len(json.dumps(messages)) < 2000


def test_recent_lines_reads_context_turn_tuples():
    from app.store.memory import ContextTurn

    class Ctx:
        recent = (ContextTurn("customer", "oi", 0.0), ContextTurn("bot", "Olá!", 1.0))

    assert recent_lines(Ctx()) == ["customer: oi", "bot: Olá!"]


def test_classify_llm_uses_one_call():
    llm = StubLLM('{"intent": "sales", "language": "en"}')
    result = Orchestrator("pt-BR").classify_llm(llm, "how much is the sunscreen?", None)

    assert (result.intent, result.language, result.source) == ("sales", "en", "llm")
    assert llm.calls == 1


def test_unreadable_llm_answer_falls_back_to_rules_without_a_second_call():
    llm = StubLLM("I think the customer wants to buy something")
    result = Orchestrator("pt-BR").classify_llm(llm, "Quero falar com um atendente", None)

    assert llm.calls == 1
    assert result.source.startswith("rules")
    assert result.intent == "human"


def test_budget_refuses_the_call_past_the_limit():
    budget = TurnBudget(2)
    budget.spend(b'{"messages": [{"role": "user", "content": "abcdefgh"}]}')
    budget.spend(None)
    with pytest.raises(BudgetExceeded):
        budget.spend(None)
    assert budget.calls == 2 and budget.exceeded and budget.prompt_tokens > 0


def test_cancelled_budget_refuses_every_call():
    budget = TurnBudget(5)
    budget.cancel()
    with pytest.raises(BudgetExceeded):
        budget.spend(None)
    assert budget.calls == 0


@pytest.mark.parametrize(
    ("model", "base_url", "expected_model", "expected_base"),
    [
        ("gpt-4o-mini", None, "openai/gpt-4o-mini", None),
        ("llama3.1", "http://ollama:11434/v1", "openai/llama3.1", "http://ollama:11434/v1"),
        ("ollama/qwen2.5", None, "ollama/qwen2.5", "http://localhost:11434/v1"),
        ("openai/gpt-4.1-nano", "http://127.0.0.1:9/v1", "openai/gpt-4.1-nano", "http://127.0.0.1:9/v1"),
    ],
)
def test_resolve_model_keeps_a_provider_prefix(model, base_url, expected_model, expected_base):
    route = resolve_model(Settings(llm_model=model, llm_base_url=base_url))
    assert (route.model, route.base_url) == (expected_model, expected_base)
    assert route.api_key  # the OpenAI SDK refuses an empty key even for local servers
