"""One claimed conversation, worked once: outbox → events → turn → hub → outbox → Chatwoot.

Order matters and is kept: a conversation's unsent requests go out before its newer events are
looked at, and its events are applied in the order the web program stored them.

The hub writes nothing while it decides: its decision carries the conversation's memory and the
bookings it makes, committed here with the turn in one transaction. A seat taken by another
conversation meanwhile fails that commit (nothing of the turn is kept) and the turn is decided
again, at most MAX_REDOS times before it goes to a human.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from datetime import datetime
from zoneinfo import ZoneInfo

from loguru import logger

from app.chatwoot import api
from app.chatwoot.events import EventError, MessageEvent, parse_event
from app.chatwoot.policy import compose_handoff, next_handler
from app.hub.types import Decision, HubService, Turn, TurnAttachment, TurnMessage
from app.logs import Redactor
from app.settings import Settings
from app.store import conversations, outbox
from app.store.bookings import SlotUnavailable
from app.store.db import Connection, Row
from app.store.memory import MemoryUpdate, Remembered, migrate_memory
from app.texts import texts_for
from app.worker.hours import Hours, handoff_text
from app.worker.sender import OutboxSender

_NOTE_TEXT_LIMIT = 1500
MAX_REDOS = 2  # decisions whose booking lost its seat at commit, decided again before a handoff


@dataclass
class PendingEvents:
    ids: list[int]
    answered: list[TurnMessage]
    accepted_at: float
    heard: list[Remembered] = field(default_factory=list)  # messages the bot does not answer

    def memory(self, account_id: int, conversation_id: int) -> list[MemoryUpdate]:
        return [MemoryUpdate(account_id, conversation_id, tuple(self.heard))] if self.heard else []


class ConversationWorker:
    """Works one conversation under a lease held by the caller."""

    def __init__(self, settings: Settings, conn: Connection, hub: HubService, sender: OutboxSender):
        self.settings = settings
        self.conn = conn
        migrate_memory(conn)  # a turn commits the conversation's memory with it
        self.hub = hub
        self.sender = sender

    async def run(self, account_id: int, conversation_id: int) -> None:
        log = logger.bind(account=account_id, conversation=conversation_id)
        # 1. What an earlier turn left unsent goes first; if it cannot go yet, newer work waits.
        if not await self.sender.flush(account_id, conversation_id):
            return
        # 2. Apply the stored events in order: takeover, memory, and what the bot must answer.
        rows = conversations.pending_events(self.conn, account_id, conversation_id)
        if not rows:
            return
        state = conversations.load(self.conn, account_id, conversation_id)
        pending = PendingEvents(ids=[], answered=[], accepted_at=0.0)
        for row in rows:
            state = self._apply(state, row, pending)
        if pending.answered and state.handler == "human":
            # A human took over within the same burst: they answer, the bot only listens.
            pending.heard += [Remembered("customer", m.content, m.message_id) for m in pending.answered
                              if m.content.strip()]
            log.info("human handles the conversation: {} message(s) left to them", len(pending.answered))
            pending.answered.clear()
        if not pending.answered:
            outbox.commit_turn(self.conn, None, [], pending.ids, state,
                               memory=pending.memory(account_id, conversation_id))
            return

        # 3. Decide, record the decision and its requests in one transaction, then send.
        turn = Turn(
            account_id=account_id,
            conversation_id=conversation_id,
            messages=tuple(pending.answered),
            contact_name=state.contact_name,
            inbox_id=state.inbox_id,
        )
        started = time.time()
        await self.sender.typing(account_id, conversation_id, on=True)
        calls = tokens = 0  # every decision's model use counts, the redone ones too
        for redo in range(MAX_REDOS + 1):
            decision = await self._decide(turn, log)
            calls, tokens = calls + decision.llm_calls, tokens + decision.prompt_tokens
            decision = replace(decision, llm_calls=calls, prompt_tokens=tokens)
            try:
                turn_id, record = self._commit(turn, decision, pending, state, started)
                break
            except SlotUnavailable as exc:
                # Another conversation's turn took the seat since this one decided: nothing was
                # committed; decide again (the hub now sees the slot full) rather than say "booked".
                then = f"deciding the turn again ({redo + 1}/{MAX_REDOS})" if redo < MAX_REDOS else "handing off"
                log.info("booking lost its seat at commit ({}); {}", exc, then)
        else:
            decision = Decision(action="handoff", language=decision.language, intent=decision.intent,
                                reason=f"the slot was taken by another conversation {MAX_REDOS + 1} times while"
                                       " deciding", summary=decision.summary, llm_calls=calls, prompt_tokens=tokens,
                                memory=MemoryUpdate(account_id, conversation_id, turn.remembered()))
            turn_id, record = self._commit(turn, decision, pending, state, started)
        log.bind(turn=turn_id).info(
            "turn decided: {} (intent {}, {} LLM call(s), {:.0f} ms){}",
            decision.action,
            decision.intent,
            decision.llm_calls,
            (record.decided_at - started) * 1000,
            f": {decision.reason}" if decision.reason else "",
        )
        await self.sender.flush(account_id, conversation_id)
        await self.sender.typing(account_id, conversation_id, on=False)

    def _commit(self, turn: Turn, decision: Decision, pending: PendingEvents, state: conversations.ConversationState,
                started: float) -> tuple[int | None, outbox.TurnRecord]:
        """The turn, its requests, its events done, the memory and the bookings: one transaction."""
        requests, state = self._requests_for(decision, turn, state)
        record = outbox.TurnRecord(
            account_id=turn.account_id,
            conversation_id=turn.conversation_id,
            event_ids=tuple(pending.ids),
            action=decision.action,
            intent=decision.intent,
            language=decision.language,
            reason=decision.reason,
            llm_calls=decision.llm_calls,
            prompt_tokens=decision.prompt_tokens,
            accepted_at=pending.accepted_at,
            started_at=started,
            decided_at=time.time(),
        )
        memory = pending.memory(turn.account_id, turn.conversation_id)
        memory += [decision.memory] if decision.memory is not None else []
        bookings = decision.bookings if decision.action == "reply" else ()  # a handoff books nothing
        turn_id = outbox.commit_turn(self.conn, record, requests, pending.ids, state, memory=memory,
                                     bookings=bookings)
        return turn_id, record

    def _apply(self, state: conversations.ConversationState, row: Row, pending: PendingEvents):
        try:
            event = parse_event(json.loads(row["payload"]))
        except (EventError, ValueError) as exc:
            # Stored by an older version that parsed it differently (or put in the store by hand):
            # it can never be worked, so it goes to dead letters rather than block the conversation.
            letter = outbox.dead_letter_event(self.conn, state.account_id, state.conversation_id, row["id"],
                                              f"stored event cannot be parsed: {exc}"[:500])
            logger.bind(event_id=row["id"]).error("stored event cannot be parsed: {}; dead letter {}", exc, letter)
            return state
        pending.ids.append(row["id"])
        handler, status = next_handler(state.handler, state.status, event, self.settings.bot_conversation_statuses)
        conversation = getattr(event, "conversation", None)
        state = replace(
            state,
            handler=handler,
            status=status,
            labels=conversation.labels if conversation is not None and conversation.labels else state.labels,
            contact_name=(conversation.contact_name if conversation is not None else None) or state.contact_name,
            inbox_id=(conversation.inbox_id if conversation is not None else None) or state.inbox_id,
        )
        if not isinstance(event, MessageEvent) or event.event != "message_created":
            return state
        if row["answerable"] and handler == "bot":
            pending.answered.append(
                TurnMessage(
                    message_id=event.message_id,
                    content=event.content,
                    attachments=tuple(TurnAttachment(x.file_type, x.data_url) for x in event.attachments),
                    created_at=event.created_at or row["received_at"],
                )
            )
            pending.accepted_at = max(pending.accepted_at, row["received_at"])
        elif row["answerable"] and event.content and event.content.strip():
            pending.heard.append(Remembered("customer", event.content, event.message_id))
        elif (event.sender.type == "user" and event.message_type == "outgoing" and not event.private
              and event.content and event.content.strip()):
            pending.heard.append(Remembered("agent", event.content, event.message_id))
        # The bot's own messages are already in memory: committed with the turn that decided them.
        return state

    async def _decide(self, turn: Turn, log) -> Decision:
        try:
            return await self.hub.decide(turn)
        except Exception as exc:  # noqa: BLE001 - a broken turn goes to a human, never to silence
            log.opt(exception=exc).error("hub failed: {}", type(exc).__name__)
            return Decision(action="handoff", reason=f"internal error in the hub ({type(exc).__name__})",
                            language=self.settings.bot_language,
                            memory=MemoryUpdate(turn.account_id, turn.conversation_id, turn.remembered()))

    def _requests_for(self, decision: Decision, turn: Turn, state: conversations.ConversationState):
        a, c = turn.account_id, turn.conversation_id
        if decision.action == "reply" and decision.text:
            return [api.create_message(a, c, decision.text)], state
        # Handoff (or a reply with nothing to say, which is a handoff too): docs/architecture.md#replies-and-handoff.
        reason = decision.reason or "the bot had no answer"
        language = decision.language or self.settings.bot_language
        base = self.settings.handoff_message or decision.text or texts_for(language)["handoff"]
        hours, now = self._business_hours()
        message = handoff_text(base, hours, now, language)
        handoff = compose_handoff(
            a, c, message=message, note=self._handoff_note(decision, turn, reason), labels=state.labels,
            handoff_label=self.settings.handoff_label, team_id=self.settings.handoff_team_id,
        )
        return list(handoff.requests), replace(state, handler="human", status="open", labels=handoff.labels)

    def _handoff_note(self, decision: Decision, turn: Turn, reason: str) -> str:
        lines = [f"🤖 {self.settings.bot_name} handed this conversation to a human.", f"Reason: {reason}"]
        lines.append(f"Intent: {decision.intent} · language: {decision.language}")
        if decision.summary:
            lines.append(f"Summary: {decision.summary[:_NOTE_TEXT_LIMIT]}")
        for attachment in turn.attachments:
            lines.append(f"Attachment ({attachment.file_type}): {attachment.data_url or 'no link'}")
        # The reason may quote an LLM provider's error text: no secret goes into Chatwoot either.
        return Redactor(self.settings.secret_values)("\n".join(lines))

    def _business_hours(self) -> tuple[Hours | None, datetime]:
        """BUSINESS_HOURS in BUSINESS_TIMEZONE when set, else business.yaml's hours in its zone."""
        if self.settings.business_hours is not None:
            return self.settings.business_hours, datetime.now(ZoneInfo(self.settings.business_timezone))
        return self.hub.business_hours()
