"""LLM cost per customer turn: our Hub versus a hierarchical crewai crew, on one counting fake.

    .venv/bin/python tests/bench/llm_cost.py [--verbose]

Both sides talk over loopback HTTP to the same OpenAI-compatible fake (tests/fakes/llm.py),
whose default script plays a plausible model: it classifies when asked for JSON, calls the most
relevant tool when its prompt lacks the facts, answers quoting a tool result, and — as the
hierarchical manager — delegates to the coworker whose role matches the question. Calls and
prompt tokens (len(messages + tool schemas) / 4, what the fake reports as usage) are counted
by the fake for both sides, so neither side's own bookkeeping is trusted.

(a) our Hub: a classification call + one specialised crew (one agent, DataProxy tools, the
    likely facts prefetched into its task); budget LLM_MAX_CALLS_PER_TURN=3.
(b) Process.hierarchical: a manager "orchestrator" delegating to sales, support and
    scheduling agents that have the same tools; the same conversation history in its task.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
from pathlib import Path
from statistics import mean

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from app.hub.crews import CREWS  # noqa: E402
from app.hub.llm import TurnBudget, build_llm, import_crewai  # noqa: E402
from app.hub.tools import ToolBox, build_tools  # noqa: E402
from app.hub.types import Turn, TurnAttachment, TurnMessage  # noqa: E402
from app.settings import EXAMPLE_KNOWLEDGE_DIR, Settings  # noqa: E402
from tests.bench.corpus import turns  # noqa: E402
from tests.fakes.llm import FakeLLM  # noqa: E402


def make_turn(conversation: int, n: int, item: str | tuple[str]) -> Turn:
    if isinstance(item, tuple):
        message = TurnMessage(n, "", attachments=(TurnAttachment(item[0], "http://example/a.ogg"),))
    else:
        message = TurnMessage(n, item)
    return Turn(account_id=1, conversation_id=conversation, messages=(message,), contact_name=None)


def run_ours(settings: Settings, fake: FakeLLM, verbose: bool) -> list[tuple[int, int]]:
    from app.hub.hub import Hub

    hub = Hub(settings)
    figures = []
    try:
        for n, (conversation, item) in enumerate(turns(), start=1):
            before_calls, before_tokens = len(fake.calls), fake.prompt_tokens
            decision = asyncio.run(hub.decide(make_turn(conversation, n, item)))
            calls, tokens = len(fake.calls) - before_calls, fake.prompt_tokens - before_tokens
            figures.append((calls, tokens))
            if verbose:
                print(f"  ours  {conversation} {decision.action:7} {decision.intent:10} calls={calls} "
                      f"tokens={tokens:5} {'; '.join(decision.steps)}")
    finally:
        hub.close()
    return figures


def run_hierarchical(settings: Settings, fake: FakeLLM, verbose: bool) -> list[tuple[int, int]]:
    crewai = import_crewai(settings)
    from app.hub.dataproxy import DataProxy

    dataproxy = DataProxy.from_settings(settings)
    history: dict[int, list[str]] = {}
    figures = []
    for conversation, item in turns():
        text = "[the customer sent an audio message]" if isinstance(item, tuple) else item
        lines = history.setdefault(conversation, [])
        before_calls, before_tokens = len(fake.calls), fake.prompt_tokens
        budget = TurnBudget(50)  # counting only: the baseline has no budget
        box = ToolBox(dataproxy, conversation_key=f"bench-h:{conversation}", language="pt-BR",
                      timezone=settings.business_timezone)
        workers = [
            crewai.Agent(role=spec.role, goal=spec.goal, backstory=spec.backstory,
                         tools=build_tools(box, spec.tool_names), llm=build_llm(settings, budget),
                         allow_delegation=False, verbose=False)
            for spec in (CREWS["sales"], CREWS["support"], CREWS["scheduling"])
        ]
        manager = crewai.Agent(
            role="Orchestrator",
            goal="Route each customer message to the right specialist and return their answer",
            backstory="You manage the shop's customer service team.",
            llm=build_llm(settings, budget), allow_delegation=True, verbose=False,
        )
        history_text = "\n".join(lines[-6:])
        task = crewai.Task(
            description=(f"Recent messages:\n{history_text}\n\n" if lines else "")
            + f"Customer message: <customer>{text}</customer>\n\nReply to the customer in their language. "
            "If they ask for a person, say a human will take over.",
            expected_output="The chat reply to send to the customer.",
        )
        crew = crewai.Crew(agents=workers, tasks=[task], manager_agent=manager,
                           process=crewai.Process.hierarchical, memory=False, verbose=False)
        try:
            reply = str(crew.kickoff().raw)
        except Exception as exc:  # noqa: BLE001 - a failed turn still spent its calls
            reply = f"(failed: {type(exc).__name__})"
        calls, tokens = len(fake.calls) - before_calls, fake.prompt_tokens - before_tokens
        figures.append((calls, tokens))
        lines += [f"customer: {text}", f"bot: {reply[:300]}"]
        if verbose:
            print(f"  hier  {conversation} calls={calls} tokens={tokens:5} {reply[:70]!r}")
    dataproxy.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--verbose", action="store_true", help="print every turn")
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)  # crewai logs every refused or failed call at ERROR
    from loguru import logger

    logger.remove()

    with tempfile.TemporaryDirectory() as tmp, FakeLLM() as fake:
        base = dict(knowledge_dir=EXAMPLE_KNOWLEDGE_DIR, llm_model="bench-model", llm_base_url=fake.base_url,
                    llm_api_key="bench", llm_timeout_s=30.0, llm_max_calls_per_turn=3)
        ours = run_ours(Settings(data_dir=Path(tmp) / "ours", **base), fake, args.verbose)
        hierarchical = run_hierarchical(Settings(data_dir=Path(tmp) / "hier", **base), fake, args.verbose)

    n = len(ours)
    ours_calls, ours_tokens = mean(c for c, _ in ours), mean(t for _, t in ours)
    hier_calls, hier_tokens = mean(c for c, _ in hierarchical), mean(t for _, t in hierarchical)
    print(f"turns: {n} ({len({c for c, _ in turns()})} conversations, pt-BR and English)")
    print(f"{'':28}{'calls/turn':>12}{'prompt tokens/turn':>20}{'max calls':>11}")
    print(f"{'(a) ours: hub + one crew':28}{ours_calls:12.2f}{ours_tokens:20.0f}{max(c for c, _ in ours):11}")
    print(f"{'(b) hierarchical crewai':28}{hier_calls:12.2f}{hier_tokens:20.0f}"
          f"{max(c for c, _ in hierarchical):11}")
    print(f"ratio (a)/(b): calls {ours_calls / hier_calls:.2f}, prompt tokens {ours_tokens / hier_tokens:.2f}")
    print(f"goals: calls/turn <= 2.0 -> {'met' if ours_calls <= 2.0 else 'MISSED'}; "
          f"tokens <= 0.5 x (b) -> {'met' if ours_tokens <= 0.5 * hier_tokens else 'MISSED'}")


if __name__ == "__main__":
    main()
