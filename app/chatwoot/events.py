"""Chatwoot webhook payloads → typed, frozen events (pure: no I/O).

Parse once at the boundary; nothing downstream reads the raw JSON by key. The raw payload is
kept aside on every event (`raw`, excluded from comparison and repr) for the store and for
fields we do not model yet. Shapes: ../shared/reference/CHATWOOT.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

MESSAGE_EVENTS = frozenset({"message_created", "message_updated"})
CONVERSATION_EVENTS = frozenset(
    {
        "conversation_created",
        "conversation_updated",
        "conversation_status_changed",
        "conversation_opened",
        "conversation_resolved",
    }
)
WIDGET_EVENTS = frozenset({"webwidget_triggered"})

# In `conversation.messages[]` Chatwoot sends message_type as an integer enum.
_MESSAGE_TYPES = {0: "incoming", 1: "outgoing", 2: "activity", 3: "template"}


class EventError(ValueError):
    """The payload is JSON but not a Chatwoot event we can use; the text says which field."""


@dataclass(frozen=True)
class Sender:
    id: int | None
    name: str | None
    type: str  # contact | user | agent_bot | unknown


@dataclass(frozen=True)
class Attachment:
    id: int | None
    file_type: str  # image | audio | video | file | location | fallback | ...
    data_url: str | None
    file_size: int | None = None


@dataclass(frozen=True)
class Conversation:
    id: int
    inbox_id: int | None
    status: str | None  # open | pending | resolved | snoozed
    labels: tuple[str, ...] = ()
    contact_name: str | None = None
    assignee_id: int | None = None
    team_id: int | None = None


@dataclass(frozen=True)
class MessageEvent:
    event: str  # message_created | message_updated
    account_id: int
    message_id: int
    content: str
    message_type: str  # incoming | outgoing | activity | template
    content_type: str
    private: bool
    sender: Sender
    conversation: Conversation
    attachments: tuple[Attachment, ...] = ()
    created_at: float | None = None  # epoch seconds
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def conversation_id(self) -> int:
        return self.conversation.id


@dataclass(frozen=True)
class ConversationEvent:
    event: str
    account_id: int
    conversation: Conversation
    previous_status: str | None = None  # from changed_attributes, when the status changed
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def conversation_id(self) -> int:
        return self.conversation.id


@dataclass(frozen=True)
class WidgetEvent:
    event: str
    account_id: int | None
    inbox_id: int | None
    contact_name: str | None
    language: str | None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    conversation_id = None


@dataclass(frozen=True)
class OtherEvent:
    """An event type we do not act on (contact_created, conversation_typing_on, ...)."""

    event: str
    account_id: int | None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    conversation_id = None


Event = MessageEvent | ConversationEvent | WidgetEvent | OtherEvent


def parse_event(payload: dict[str, Any]) -> Event:
    """Parse one webhook body. Raises EventError when a known event lacks what it needs."""
    if not isinstance(payload, dict):
        raise EventError("body must be a JSON object")
    name = payload.get("event")
    if not isinstance(name, str) or not name:
        raise EventError("missing 'event'")
    if name in MESSAGE_EVENTS:
        return _message(name, payload)
    if name in CONVERSATION_EVENTS:
        return _conversation_event(name, payload)
    if name in WIDGET_EVENTS:
        inbox = _obj(payload.get("inbox"))
        contact = _obj(payload.get("contact"))
        info = _obj(payload.get("event_info"))
        browser = _obj(info.get("browser"))
        return WidgetEvent(
            event=name,
            account_id=_opt_int(_obj(payload.get("account")).get("id")),
            inbox_id=_opt_int(inbox.get("id")),
            contact_name=_opt_str(contact.get("name")),
            language=_opt_str(info.get("browser_language") or browser.get("browser_language")),
            raw=payload,
        )
    return OtherEvent(event=name, account_id=_opt_int(_obj(payload.get("account")).get("id")), raw=payload)


def _message(name: str, p: dict[str, Any]) -> MessageEvent:
    account_id = _required_int(_obj(p.get("account")).get("id"), "account.id")
    conversation = _conversation(_obj(p.get("conversation")), "conversation.")
    sender = _obj(p.get("sender"))
    message_type = p.get("message_type")
    if isinstance(message_type, int):
        message_type = _MESSAGE_TYPES.get(message_type, "unknown")
    if not isinstance(message_type, str):
        raise EventError("missing 'message_type'")
    attachments = tuple(
        Attachment(
            id=_opt_int(a.get("id")),
            file_type=_opt_str(a.get("file_type")) or "file",
            data_url=_opt_str(a.get("data_url")),
            file_size=_opt_int(a.get("file_size")),
        )
        for a in (p.get("attachments") or [])
        if isinstance(a, dict)
    )
    return MessageEvent(
        event=name,
        account_id=account_id,
        message_id=_required_int(p.get("id"), "id"),
        content=p.get("content") if isinstance(p.get("content"), str) else "",
        message_type=message_type,
        content_type=_opt_str(p.get("content_type")) or "text",
        private=bool(p.get("private")),
        sender=Sender(
            id=_opt_int(sender.get("id")),
            name=_opt_str(sender.get("name")),
            type=_opt_str(sender.get("type")) or "unknown",
        ),
        conversation=conversation,
        attachments=attachments,
        created_at=_timestamp(p.get("created_at")),
        raw=p,
    )


def _conversation_event(name: str, p: dict[str, Any]) -> ConversationEvent:
    conversation = _conversation(p, "")
    account_id = _opt_int(p.get("account_id")) or _opt_int(_obj(p.get("account")).get("id"))
    if account_id is None:
        # Older payloads carry the account only on the embedded last message.
        messages = p.get("messages") or []
        if messages and isinstance(messages[0], dict):
            account_id = _opt_int(messages[0].get("account_id"))
    if account_id is None:
        raise EventError("missing 'account_id'")
    previous = None
    for change in p.get("changed_attributes") or []:
        status = _obj(change).get("status") if isinstance(change, dict) else None
        if isinstance(status, dict):
            previous = _opt_str(status.get("previous_value"))
    return ConversationEvent(
        event=name, account_id=account_id, conversation=conversation, previous_status=previous, raw=p
    )


def _conversation(c: dict[str, Any], prefix: str) -> Conversation:
    meta = _obj(c.get("meta"))
    labels = c.get("labels") or []
    return Conversation(
        id=_required_int(c.get("id"), f"{prefix}id"),
        inbox_id=_opt_int(c.get("inbox_id")),
        status=_opt_str(c.get("status")),
        labels=tuple(str(label) for label in labels if isinstance(label, str)),
        contact_name=_opt_str(_obj(meta.get("sender")).get("name")),
        assignee_id=_opt_int(_obj(meta.get("assignee")).get("id")),
        team_id=_opt_int(_obj(meta.get("team")).get("id")),
    )


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value != "" else None


def _opt_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _required_int(value: Any, name: str) -> int:
    result = _opt_int(value)
    if result is None:
        raise EventError(f"missing or non-integer '{name}'")
    return result


def _timestamp(value: Any) -> float | None:
    """Chatwoot sends ISO text at top level and epoch seconds inside conversation.messages."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None
