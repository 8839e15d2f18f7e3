"""The hub: one turn in, one decision out (`Hub.decide`).

Only two steps may use a model — the orchestrator's classification and the specialised crew —
and both share one per-turn budget (LLM_MAX_CALLS_PER_TURN) and one deadline (LLM_TIMEOUT_S).
Context, data access and integration are code. Any LLM trouble (down, slow, over budget,
nonsense) becomes a handoff, never an exception: the worker must always get a decision.

The hub reads the store and writes nothing: what the conversation's memory gains and the
bookings made are part of the decision, committed by the worker with the turn.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from loguru import logger

from app.hub.crews import CREWS, CrewInput, run_crew
from app.hub.dataproxy import DataProxy
from app.hub.llm import Borrowed, BudgetExceeded, LLMPool, TurnBudget, import_crewai, warm_up
from app.hub.offline import OfflineResponder
from app.hub.orchestrator import Classification, ClassificationAnswer, Orchestrator, recent_lines
from app.hub.tools import ToolBox
from app.hub.types import Decision, Turn
from app.settings import Settings
from app.store.memory import Context, MemoryStore, MemoryUpdate, Remembered
from app.texts import texts_for

log = logger.bind(component="hub")



class Hub:
    def __init__(self, settings: Settings, *, dataproxy: DataProxy | None = None,
                 context: MemoryStore | None = None):
        self.settings = settings
        self._owns: list[DataProxy | MemoryStore] = []
        if dataproxy is None:
            dataproxy = DataProxy.from_settings(settings)
            self._owns.append(dataproxy)
        if context is None:
            context = MemoryStore(settings.db_path)
            self._owns.append(context)
        self.dataproxy = dataproxy
        self.context = context
        self._offline_responder: OfflineResponder | None = None
        self.orchestrator = Orchestrator(settings.bot_language)
        self.llm_enabled = bool(settings.llm_model)
        self._llms = LLMPool(settings)
        if self.llm_enabled:
            warm_up(settings)  # crewai's ~5 s import happens now, not on the first customer's turn

    # -- the worker's API -------------------------------------------------------------------------
    async def decide(self, turn: Turn) -> Decision:
        """Decide one turn, writing nothing (the decision carries its memory and bookings).
        Raises only for programming or store errors, never for LLM trouble."""
        a, c = turn.account_id, turn.conversation_id
        steps: list[str] = []
        await asyncio.to_thread(self._refresh, steps)
        ctx = self.context.load(a, c)
        text = turn.text
        heard = MemoryUpdate(a, c, turn.remembered())
        language = ctx.language or self.settings.bot_language
        summary = self._summary(ctx, text)

        if not text and turn.attachments:
            reply = self._acknowledge_attachments(turn, language)
            steps.append("attachments only: asked for text")
            return Decision(action="reply", text=reply, intent="other", language=language,
                            summary=summary, steps=tuple(steps), memory=_said(heard, reply))
        if not text:
            return Decision(action="handoff", reason="empty turn: nothing to answer", language=language,
                            summary=summary, steps=tuple(steps), memory=heard)

        if not self.llm_enabled:
            cls = self.orchestrator.classify_rules(text, ctx)
            steps.append(f"classified {cls.intent} (rules)")
            decision = self._offline(turn, ctx, cls, steps, summary, heard)
        else:
            decision = await self._decide_with_llm(turn, ctx, text, steps, summary, heard)
        if turn.attachments and decision.action == "reply" and decision.text:
            # Text came with an image, audio or file we cannot read: answer the text and say so,
            # rather than let the attachment pass as if it had been seen.
            note = texts_for(decision.language or language)["attachment_note"]
            decision = replace(decision, text=f"{decision.text}\n\n{note}",
                               steps=(*decision.steps, "attachment acknowledged"))
        return decision

    def business_hours(self) -> tuple[Mapping[str, Sequence[str]] | None, datetime]:
        """business.yaml's hours and the time now in its zone (for the out-of-hours handoff)."""
        return self.dataproxy.business_info().hours, self.dataproxy.now()

    def refresh_knowledge(self) -> bool:
        """Look at the knowledge files now; True when new data was loaded. The worker calls this
        on a timer, so a broken edit reaches /ready without waiting for a customer's turn."""
        steps: list[str] = []
        self._refresh(steps)
        return bool(steps)

    def close(self) -> None:
        for owned in self._owns:
            owned.close()
        self._owns.clear()

    # -- paths --------------------------------------------------------------------------------------
    def _refresh(self, steps: list[str]) -> None:
        try:
            if self.dataproxy.refresh():
                steps.append("knowledge reloaded")
        except Exception as exc:  # noqa: BLE001 - a malformed file keeps the previous data serving
            log.warning("knowledge refresh failed: {}", exc)

    @property
    def offline(self) -> OfflineResponder:
        """The rules responder, built on first use (a hub with a model may never need it)."""
        if self._offline_responder is None:
            self._offline_responder = OfflineResponder(self.dataproxy, default_language=self.settings.bot_language)
        return self._offline_responder

    def _offline(self, turn: Turn, ctx: Context, cls: Classification, steps: list[str], summary: str,
                 heard: MemoryUpdate) -> Decision:
        decision = self.offline.respond(turn, ctx, intent=cls.intent, language=cls.language)
        said = decision.text if decision.action == "reply" else None
        state = decision.memory.state if decision.memory is not None else None
        memory = replace(_said(heard, said), language=cls.language, state=state)
        return replace(decision, llm_calls=0, intent=cls.intent, language=cls.language,
                       summary=decision.summary or summary, steps=tuple(steps) + tuple(decision.steps),
                       memory=memory, bookings=decision.bookings if decision.action == "reply" else ())

    async def _decide_with_llm(
        self, turn: Turn, ctx: Context, text: str, steps: list[str], summary: str, heard: MemoryUpdate
    ) -> Decision:
        settings = self.settings
        # The import is local CPU work, not the model being slow: keep it off the LLM deadline.
        crewai = await asyncio.to_thread(import_crewai, settings)
        deadline = time.monotonic() + settings.llm_timeout_s
        budget = TurnBudget(settings.llm_max_calls_per_turn, deadline=deadline)
        llms: list[Borrowed] = []
        intent, language = "other", ctx.language or settings.bot_language

        def handoff(reason: str) -> Decision:
            budget.cancel()  # the crew may still run: it plans nothing more, and what it planned is never made
            steps.append(f"handoff: {reason}")
            log.info("conversation {}/{} handed off: {}", turn.account_id, turn.conversation_id, reason)
            return Decision(action="handoff", reason=reason, intent=intent, language=language,
                            llm_calls=budget.calls, prompt_tokens=_tokens(budget, llms),
                            summary=summary, steps=tuple(steps), memory=heard)

        def classify() -> Classification:
            borrowed = self._llms.borrow(budget, temperature=0.0, response_format=ClassificationAnswer,
                                         max_tokens=60)
            llms.append(borrowed)
            try:
                return self.orchestrator.classify_llm(borrowed.llm, text, ctx)
            finally:
                self._llms.give_back(borrowed)

        try:
            cls = await self._in_thread(classify, budget, deadline)
        except Exception as exc:  # noqa: BLE001 - see _in_thread: every LLM failure is a handoff
            return handoff(_why(exc, budget, "classification"))
        intent, language = cls.intent, cls.language
        steps.append(f"classified {intent} ({cls.source})")
        if intent == "human":
            return handoff("customer asked for a person")

        spec = CREWS.get(intent, CREWS["other"])
        box = ToolBox(self.dataproxy, conversation_key=f"{turn.account_id}:{turn.conversation_id}",
                      language=language, timezone=settings.business_timezone,
                      customer_name=ctx.customer_name or turn.contact_name, steps=steps, budget=budget)
        given = CrewInput(
            customer_text=text, language=language, business_name=self._business_name(),
            history=tuple(recent_lines(ctx)), summary=ctx.summary,
            customer_name=box.customer_name,
        )

        def answer() -> str:
            borrowed = self._llms.borrow(budget)
            llms.append(borrowed)
            try:
                return run_crew(crewai, spec, borrowed.llm, box, given, max_iter=budget.remaining)
            finally:
                self._llms.give_back(borrowed)

        try:
            reply = await self._in_thread(answer, budget, deadline)
        except Exception as exc:  # noqa: BLE001
            return handoff(_why(exc, budget, f"{spec.name} crew"))
        if not reply:
            return handoff(f"{spec.name} crew gave an empty answer")
        return Decision(action="reply", text=reply, intent=intent, language=language,
                        llm_calls=budget.calls, prompt_tokens=_tokens(budget, llms),
                        summary=summary, steps=tuple(steps), memory=replace(_said(heard, reply), language=language),
                        bookings=box.plan.changes)

    @staticmethod
    async def _in_thread(function: Any, budget: TurnBudget, deadline: float) -> Any:
        """Run blocking crewai code off the event loop, within what is left of the deadline.

        On timeout the thread cannot be killed; cancelling the budget makes its next model
        request fail, and the SDK's own timeout (LLM_TIMEOUT_S) ends the one in flight.
        """
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            budget.cancel()
            raise TimeoutError
        try:
            return await asyncio.wait_for(asyncio.to_thread(function), remaining)
        except TimeoutError:
            budget.cancel()
            raise

    # -- helpers ------------------------------------------------------------------------------------
    def _acknowledge_attachments(self, turn: Turn, language: str) -> str:
        texts = texts_for(language)
        kinds = [a.file_type for a in turn.attachments]
        kind = next((k for k in ("audio", "video", "image") if k in kinds), "file")
        return texts.say("attachment_ack", what=texts[f"what_{kind}"])

    def _business_name(self) -> str:
        try:
            return str(self.dataproxy.business_info().name)
        except Exception:  # noqa: BLE001
            return "the business"

    @staticmethod
    def _summary(ctx: Context, text: str) -> str:
        """For the handoff note: the stored rolling summary, else the last lines and this turn."""
        stored = ctx.summary
        lines = recent_lines(ctx)[-4:]
        parts = [stored] if stored else lines
        parts.append(f"customer: {text}" if text else "customer sent attachments only")
        return "\n".join(p for p in parts if p)[:1000]


def _said(heard: MemoryUpdate, reply: str | None) -> MemoryUpdate:
    """The turn's memory with the bot's reply after the customer's messages."""
    if not reply:
        return heard
    return replace(heard, messages=(*heard.messages, Remembered("bot", reply)))


def _tokens(budget: TurnBudget, llms: list[Borrowed]) -> int:
    reported = sum(b.prompt_tokens for b in llms)
    return reported or budget.prompt_tokens


def _why(exc: BaseException, budget: TurnBudget, step: str) -> str:
    """The handoff reason: budget and timeout first, since crewai wraps what the transport raised."""
    if budget.exceeded:
        return f"LLM call budget ({budget.limit}) spent in the {step}{budget.trouble()}"
    if isinstance(exc, TimeoutError) or budget.cancelled:
        return f"LLM timed out in the {step}"
    if isinstance(exc, BudgetExceeded):
        return f"LLM call budget ({budget.limit}) spent in the {step}"
    return f"LLM failed in the {step}: {type(exc).__name__}: {str(exc)[:200]}"
