"""What the worker hands the hub and what it gets back: one turn in, one decision out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol, runtime_checkable

from app.store.bookings import BookingChange
from app.store.memory import MemoryUpdate, Remembered

Intent = Literal["sales", "support", "scheduling", "human", "other"]


@dataclass(frozen=True)
class TurnAttachment:
    file_type: str  # image | audio | video | file | location | ...
    data_url: str | None = None


@dataclass(frozen=True)
class TurnMessage:
    message_id: int
    content: str
    attachments: tuple[TurnAttachment, ...] = ()
    created_at: float = 0.0  # epoch seconds


@dataclass(frozen=True)
class Turn:
    """The customer messages of one conversation answered together (a coalesced burst)."""

    account_id: int
    conversation_id: int
    messages: tuple[TurnMessage, ...]
    contact_name: str | None = None
    inbox_id: int | None = None

    @property
    def text(self) -> str:
        return "\n".join(m.content for m in self.messages if m.content.strip())

    @property
    def attachments(self) -> tuple[TurnAttachment, ...]:
        return tuple(a for m in self.messages for a in m.attachments)

    def remembered(self) -> tuple[Remembered, ...]:
        """The customer's messages as memory, each under its Chatwoot id."""
        return tuple(Remembered("customer", m.content, m.message_id) for m in self.messages if m.content.strip())


@dataclass(frozen=True)
class Decision:
    """The hub's answer. `handoff` means a human should take over; `reason` says why (private note).

    The hub writes nothing while it decides: what the conversation's memory gains (`memory`:
    the customer's messages with their Chatwoot ids, the reply, the language, the responders'
    state) and the bookings it makes or cancels (`bookings`) are committed by the worker with
    the turn, in one transaction (`outbox.commit_turn`). A handoff carries no bookings.
    """

    action: Literal["reply", "handoff"]
    text: str | None = None  # the reply; for a handoff, an optional message to the customer
    reason: str | None = None
    intent: Intent = "other"
    language: str = "pt-BR"
    llm_calls: int = 0
    prompt_tokens: int = 0
    summary: str | None = None  # short conversation summary for the handoff note
    steps: tuple[str, ...] = field(default_factory=tuple)  # what the hub did, for `simulate` and logs
    memory: MemoryUpdate | None = None
    bookings: tuple[BookingChange, ...] = ()


@runtime_checkable
class HubService(Protocol):
    """What the worker needs of the hub, and nothing more: the worker depends on this, not on
    app.hub.hub.Hub, so a hub's internals (its DataProxy, its crews) stay the hub's business."""

    async def decide(self, turn: Turn) -> Decision:
        """Decide one turn, writing nothing: the decision carries its memory and bookings."""
        ...

    def business_hours(self) -> tuple[Mapping[str, Sequence[str]] | None, datetime]:
        """The business's opening hours by weekday ("mon": ["09:00-18:00"]) and its "now"."""
        ...

    def refresh_knowledge(self) -> bool: ...

    def close(self) -> None: ...
