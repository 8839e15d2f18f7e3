"""Which events the bot answers, which ones mean a human took over
(docs/architecture.md#events-the-bot-answers), and what a handoff sends
(docs/architecture.md#replies-and-handoff). Pure: requests come back as data for the outbox."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace

from app.chatwoot import api
from app.chatwoot.events import ConversationEvent, Event, MessageEvent


@dataclass(frozen=True)
class Verdict:
    """What the door does with an event: store it (as work or as context) and whether to answer."""

    store: bool
    answer: bool
    reason: str | None = None  # why it is not answered


def classify(event: Event, answer_statuses: Collection[str]) -> Verdict:
    if isinstance(event, MessageEvent):
        if event.event != "message_created":
            # Edits are context only: answering an edit would answer the same message twice.
            return Verdict(store=True, answer=False, reason="message edit")
        reason = why_not_answer(event, answer_statuses)
        return Verdict(store=True, answer=reason is None, reason=reason)
    if isinstance(event, ConversationEvent):
        # Status changes drive takeover (a human opened it) and hand-back (pending again).
        return Verdict(store=True, answer=False, reason="conversation event")
    return Verdict(store=False, answer=False, reason=f"event {event.event} not handled")


def why_not_answer(event: MessageEvent, answer_statuses: Collection[str]) -> str | None:
    """None when the bot should answer this message, else the reason it should not."""
    if event.message_type != "incoming":
        return f"{event.message_type} message"
    if event.private:
        return "private note"
    if event.sender.type != "contact":
        return f"sender is {event.sender.type}"
    status = event.conversation.status
    if status not in answer_statuses:
        return f"conversation is {status or 'of unknown status'}"
    return None


def next_handler(
    handler: str, last_status: str | None, event: Event, answer_statuses: Collection[str]
) -> tuple[str, str | None]:
    """Takeover as a state machine: (handler, last known status) after `event`.

    `handler` is "bot" or "human". A human takes over when an agent posts publicly in the
    conversation or its status leaves the bot's statuses; the bot gets it back only when the
    status moves back into them (pending again) — an agent replying inside a still-pending
    conversation keeps the bot silent.
    """
    status = getattr(getattr(event, "conversation", None), "status", None) or last_status
    if isinstance(event, MessageEvent) and event.sender.type == "user" and not event.private:
        if event.message_type == "outgoing":
            return "human", status
    moved_in = status in answer_statuses and last_status is not None and last_status not in answer_statuses
    if status is not None and status not in answer_statuses:
        return "human", status
    if moved_in:
        return "bot", status
    return handler, status


@dataclass(frozen=True)
class Handoff:
    """Everything one handoff sends, in order, and the labels the conversation then carries."""

    requests: tuple[api.Request, ...]
    labels: tuple[str, ...]


def compose_handoff(
    account_id: int,
    conversation_id: int,
    *,
    message: str,
    note: str,
    labels: Sequence[str],
    handoff_label: str,
    team_id: int | None = None,
) -> Handoff:
    """The customer's message, the private note for the agents, the labels (the conversation's
    own kept, the handoff label added once), the team when one is configured, and "open" last
    so the conversation reaches the agents' queue with everything already on it."""
    kept = tuple(dict.fromkeys((*labels, handoff_label)))
    requests = [
        replace(api.create_message(account_id, conversation_id, message), purpose="handoff_message"),
        api.create_message(account_id, conversation_id, note, private=True),
        api.set_labels(account_id, conversation_id, kept),
    ]
    if team_id:
        requests.append(api.assign_team(account_id, conversation_id, team_id))
    requests.append(api.toggle_status(account_id, conversation_id, "open"))
    return Handoff(tuple(requests), kept)
