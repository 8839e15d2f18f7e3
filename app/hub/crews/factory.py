"""One crew = one agent + one task, built per turn, memory and verbosity off.

Why one agent: every extra agent is extra LLM calls (a manager alone costs 2+ per turn). Why
prefetch: the hub already knows the customer's words, so the likely facts (matching products,
FAQ answers, free slots) go into the task as data, and the agent usually answers in one call;
its tools stay available for what the prefetch missed and for actions (booking).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.hub.tools import ToolBox, build_tools

Prefetch = Callable[[ToolBox, str], str]


@dataclass(frozen=True)
class CrewSpec:
    name: str
    role: str
    goal: str
    backstory: str
    tool_names: tuple[str, ...]
    prefetch: Prefetch


@dataclass(frozen=True)
class CrewInput:
    customer_text: str
    language: str
    business_name: str
    history: tuple[str, ...] = ()
    summary: str | None = None
    customer_name: str | None = None


LANGUAGE_NAMES = {"pt-BR": "Brazilian Portuguese", "pt": "Portuguese", "en": "English", "es": "Spanish"}


def task_description(spec: CrewSpec, data: str, given: CrewInput) -> str:
    """The task prompt. Customer words and data are fenced so the model (and the test fake)
    can tell them from instructions."""
    language = LANGUAGE_NAMES.get(given.language, given.language)
    parts = [f"You answer customers of {given.business_name} on chat."]
    if given.customer_name:
        parts.append(f"Customer's name: {given.customer_name}.")
    if given.summary:
        parts.append(f"Conversation summary: {given.summary[:500]}")
    if given.history:
        parts.append("Recent messages:\n" + "\n".join(line[:300] for line in given.history[-6:]))
    parts.append(f"Business data that may answer it:\n<data>\n{data[:2500]}\n</data>")
    parts.append(f"Customer message: <customer>{given.customer_text[:2000]}</customer>")
    parts.append(
        f"Reply to the customer in {language}, briefly and warmly, as a chat message. Use only facts "
        "from the data or your tools; never invent prices, stock or times. If the data already "
        "answers, reply directly without tools."
    )
    return "\n\n".join(parts)


def run_crew(crewai: Any, spec: CrewSpec, llm: Any, box: ToolBox, given: CrewInput, *, max_iter: int) -> str:
    """Build and run the crew for one turn (blocking: the hub calls it in a thread)."""
    data = spec.prefetch(box, given.customer_text)
    box.steps.append(f"crew {spec.name}")
    agent = crewai.Agent(
        role=spec.role,
        goal=spec.goal,
        backstory=spec.backstory,
        tools=build_tools(box, spec.tool_names),
        llm=llm,
        max_iter=max(1, max_iter),
        allow_delegation=False,
        memory=False,
        verbose=False,
    )
    task = crewai.Task(
        description=task_description(spec, data, given),
        expected_output="The chat reply to send to the customer, nothing else.",
        agent=agent,
    )
    crew = crewai.Crew(agents=[agent], tasks=[task], memory=False, verbose=False)
    result = crew.kickoff()
    return str(getattr(result, "raw", result) or "").strip()


def quiet(box: ToolBox, call: Callable[[], str]) -> str:
    """Prefetch is a hint: a failing lookup must not fail the turn, and is not a tool step."""
    mark = len(box.steps)
    try:
        return call()
    except Exception as exc:  # noqa: BLE001
        return f"(lookup failed: {exc})"
    finally:
        del box.steps[mark:]
