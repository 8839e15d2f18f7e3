"""The orchestrator: which crew answers this turn, and in which language.

With a model it is exactly one small structured-output call (intent + language as JSON); without
one, the offline rules. Building the prompt and reading the answer are pure functions so they
are tested without a network; a model that answers something unreadable costs its one call and
the rules decide instead — a bad classification is cheaper than a second call.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, get_args

from pydantic import BaseModel, Field

from app.hub.types import Intent

INTENTS: tuple[str, ...] = get_args(Intent)


class ClassificationAnswer(BaseModel):
    """The structured output asked of the model (sent as a json_schema response_format).

    crewai validates the answer against it and hands back the raw text when that fails; the
    lenient `parse_classification` then gets a second look before the rules take over.
    """

    intent: Intent
    language: str = Field(description="BCP-47 tag of the customer's message, e.g. pt-BR or en")


SYSTEM_PROMPT = (
    "You route customer messages of a business. Reply with JSON only: "
    '{"intent": one of sales|support|scheduling|human|other, "language": BCP-47 tag of the '
    "customer's message}. sales: products, prices, stock, buying. support: delivery, returns, "
    "payment, hours, address, problems, other questions about the business. scheduling: booking, "
    "rescheduling or cancelling appointments, free times. human: the customer asks for a person. "
    "other: greetings, thanks, anything else."
)

_LANGUAGE_ALIASES = {
    "pt": "pt-BR", "pt-br": "pt-BR", "pt_br": "pt-BR", "portuguese": "pt-BR", "português": "pt-BR",
    "en": "en", "en-us": "en", "en-gb": "en", "english": "en",
    "es": "es", "spanish": "es", "español": "es",
}


@dataclass(frozen=True)
class Classification:
    intent: str
    language: str
    source: str  # "llm" | "rules"


def normalize_language(value: Any, default: str) -> str:
    """Models say "pt", "Portuguese" or "pt_BR"; the rest of the hub speaks BCP-47 tags."""
    if not isinstance(value, str) or not value.strip():
        return default
    raw = value.strip()
    alias = _LANGUAGE_ALIASES.get(raw.lower())
    if alias:
        return alias
    if re.fullmatch(r"[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})?", raw):
        base, _, region = raw.replace("_", "-").partition("-")
        return f"{base.lower()}-{region.upper()}" if region else base.lower()
    return default


def build_messages(
    text: str, recent: list[str] | None = None, summary: str | None = None
) -> list[dict[str, str]]:
    """The classification prompt: short on purpose (it runs on every turn).

    Only the last few lines of history go in — enough to read "sim, pode ser às 10" as scheduling.
    """
    parts = []
    if summary:
        parts.append(f"Conversation so far: {summary[:400]}")
    if recent:
        parts.append("Recent messages:\n" + "\n".join(line[:200] for line in recent[-4:]))
    parts.append(f"Customer message: <customer>{text[:1500]}</customer>")
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": "\n\n".join(parts)}]


def parse_classification(raw: Any, default_language: str) -> tuple[str, str] | None:
    """(intent, language) from the model's answer, or None when it is not a usable classification.

    Tolerates what small local models do: code fences, prose around the object, capitalised
    or synonymous intents.
    """
    data: Any = raw
    if isinstance(raw, str):
        match = re.search(r"\{.*\}", raw, re.S)
        if not match:
            return None
        try:
            data = json.loads(match.group(0))
        except ValueError:
            return None
    if hasattr(data, "model_dump"):
        data = data.model_dump()
    if not isinstance(data, dict):
        return None
    intent = str(data.get("intent", "")).strip().lower()
    intent = {"sale": "sales", "schedule": "scheduling", "booking": "scheduling", "agent": "human",
              "person": "human"}.get(intent, intent)
    if intent not in INTENTS:
        return None
    return intent, normalize_language(data.get("language"), default_language)


def recent_lines(ctx: Any) -> list[str]:
    """The context's recent turns as "role: text" lines (`Context.recent` holds ContextTurns)."""
    return [f"{turn.role}: {turn.text}" for turn in getattr(ctx, "recent", None) or ()]


class Orchestrator:
    def __init__(self, default_language: str):
        self.default_language = default_language

    def classify_rules(self, text: str, ctx: Any) -> Classification:
        from app.hub.offline import classify_rules

        intent, language = classify_rules(text, ctx, default_language=self.default_language)
        return Classification(intent, language or self.default_language, "rules")

    def classify_llm(self, llm: Any, text: str, ctx: Any) -> Classification:
        """One LLM call (blocking; the hub runs it in a thread). LLM errors propagate: the hub
        turns them into a handoff. An unreadable answer falls back to the rules."""
        messages = build_messages(text, recent_lines(ctx), getattr(ctx, "summary", None))
        answer = llm.call(messages)
        parsed = parse_classification(answer, getattr(ctx, "language", None) or self.default_language)
        if parsed is None:
            fallback = self.classify_rules(text, ctx)
            return Classification(fallback.intent, fallback.language, "rules after unreadable llm answer")
        return Classification(parsed[0], parsed[1], "llm")
