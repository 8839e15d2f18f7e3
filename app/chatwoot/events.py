"""Chatwoot webhook payloads → typed, frozen events (pure: no I/O).

Parse once at the boundary; nothing downstream reads the raw JSON by key. The raw payload is
kept aside on every event (`raw`, excluded from comparison and repr) for the store and for
fields we do not model yet. Shapes: tests/fixtures/events/ and docs/architecture.md.

One set of rules decides what a usable event is, and both ends use it: the door calls
`read_envelope` (validates every field anything downstream reads, returns only what the door
needs, builds no event), the worker calls `parse_event` (the same validation, then the typed
event). So an event the door accepted always parses in the worker, and a bad one is refused at
the door with a 400 that names the field, instead of failing in the worker forever.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from app.chatwoot.fields import (
    MAX_NESTING,
    EventError,
    a_bool,
    a_list,
    a_string,
    an_id,
    an_object,
    check_nesting,
    epoch_seconds,
    text,
)
from app.chatwoot.fields import message_type as read_message_type

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


class Envelope(NamedTuple):
    """What the door needs of a validated event: its ids and the fields the answer policy reads."""

    event: str
    family: str  # message | conversation | widget | other
    account_id: int | None
    conversation_id: int | None = None
    message_id: int | None = None
    message_type: str | None = None
    private: bool = False
    sender_type: str = "unknown"
    status: str | None = None


def read_envelope(payload: Any, raw: bytes | None = None) -> Envelope:
    """Validate an event as `parse_event` does, without building it. Raises EventError.

    `raw`, the body the payload was parsed from, lets the nesting check skip its walk for the
    ordinary body that has too few brackets to be deep.
    """
    name = _event_name(payload)
    if raw is None or raw.count(b"[") + raw.count(b"{") > MAX_NESTING:
        check_nesting(payload)
    if name in MESSAGE_EVENTS:
        return _check_message(name, payload)
    if name in CONVERSATION_EVENTS:
        return _check_conversation_event(name, payload)
    if name in WIDGET_EVENTS:
        return _check_widget(name, payload)
    return Envelope(name, "other", an_id(an_object(payload.get("account"), "account").get("id"), "account.id"))


def parse_event(payload: Any) -> Event:
    """Parse one webhook body. Raises EventError naming the first field that is missing or of
    the wrong type."""
    envelope = read_envelope(payload)
    family = envelope.family
    if family == "message":
        return _message(envelope, payload)
    if family == "conversation":
        return _conversation_event(envelope, payload)
    if family == "widget":
        inbox = payload.get("inbox") or {}
        info = payload.get("event_info") or {}
        browser = info.get("browser") or {}
        return WidgetEvent(
            event=envelope.event,
            account_id=envelope.account_id,
            inbox_id=inbox.get("id"),
            contact_name=text((payload.get("contact") or {}).get("name")),
            language=text(info.get("browser_language")) or text(browser.get("browser_language")),
            raw=payload,
        )
    return OtherEvent(event=envelope.event, account_id=envelope.account_id, raw=payload)


# -- validation: the one definition of a usable event ------------------------------------------


def _event_name(payload: Any) -> str:
    if not isinstance(payload, dict):
        raise EventError("body must be a JSON object")
    name = payload.get("event")
    if not isinstance(name, str) or not name:
        raise EventError("missing 'event'")
    return name


def _check_message(name: str, p: dict[str, Any]) -> Envelope:
    account_id = an_id(an_object(p.get("account"), "account").get("id"), "account.id", required=True)
    message_id = an_id(p.get("id"), "id", required=True)
    conversation = p.get("conversation")
    if conversation is None:
        raise EventError("missing 'conversation.id'")
    conversation_id, status = _check_conversation(an_object(conversation, "conversation"), "conversation.")
    an_id(an_object(p.get("inbox"), "inbox").get("id"), "inbox.id")
    message_type = read_message_type(p.get("message_type"))
    private = a_bool(p.get("private"), "private")
    a_string(p.get("content"), "content")
    a_string(p.get("content_type"), "content_type")
    a_string(p.get("created_at"), "created_at", numbers=True)
    sender = an_object(p.get("sender"), "sender")
    an_id(sender.get("id"), "sender.id")
    a_string(sender.get("name"), "sender.name")
    sender_type = text(a_string(sender.get("type"), "sender.type")) or "unknown"
    for i, attachment in enumerate(a_list(p.get("attachments"), "attachments")):
        where = f"attachments[{i}]."
        a = an_object(attachment, where[:-1], required=True)
        an_id(a.get("id"), where + "id")
        a_string(a.get("file_type"), where + "file_type")
        a_string(a.get("data_url"), where + "data_url")
        an_id(a.get("file_size"), where + "file_size", minimum=0)
    return Envelope(name, "message", account_id, conversation_id, message_id, message_type, private, sender_type,
                    status)


def _check_conversation_event(name: str, p: dict[str, Any]) -> Envelope:
    conversation_id, status = _check_conversation(p, "")
    account_id = an_id(p.get("account_id"), "account_id") or an_id(
        an_object(p.get("account"), "account").get("id"), "account.id"
    )
    messages = a_list(p.get("messages"), "messages")
    if account_id is None and messages:
        # Older payloads carry the account only on the embedded last message.
        account_id = an_id(an_object(messages[0], "messages[0]").get("account_id"), "messages[0].account_id")
    if account_id is None:
        raise EventError("missing 'account_id'")
    for i, change in enumerate(a_list(p.get("changed_attributes"), "changed_attributes")):
        where = f"changed_attributes[{i}]"
        status_change = an_object(an_object(change, where, required=True).get("status"), f"{where}.status")
        a_string(status_change.get("previous_value"), f"{where}.status.previous_value")
    return Envelope(name, "conversation", account_id, conversation_id, status=status)


def _conversation_names(prefix: str) -> tuple[str, ...]:
    return tuple(prefix + name for name in ("id", "inbox_id", "status", "labels", "meta", "meta.sender",
                                            "meta.sender.name", "meta.assignee", "meta.assignee.id", "meta.team",
                                            "meta.team.id"))


# The field names a conversation is checked under, built once: the door checks one per webhook.
_CONVERSATION_NAMES = {prefix: _conversation_names(prefix) for prefix in ("", "conversation.")}


def _check_conversation(c: dict[str, Any], prefix: str) -> tuple[int, str | None]:
    (id_, inbox_id, status_, labels, meta_, sender, sender_name, assignee, assignee_id, team,
     team_id) = _CONVERSATION_NAMES.get(prefix) or _conversation_names(prefix)
    conversation_id = an_id(c.get("id"), id_, required=True)
    an_id(c.get("inbox_id"), inbox_id)
    status = text(a_string(c.get("status"), status_))
    for i, label in enumerate(a_list(c.get("labels"), labels)):
        if not isinstance(label, str):
            raise EventError(f"'{labels}[{i}]' must be a string")
    meta = an_object(c.get("meta"), meta_)
    a_string(an_object(meta.get("sender"), sender).get("name"), sender_name)
    an_id(an_object(meta.get("assignee"), assignee).get("id"), assignee_id)
    an_id(an_object(meta.get("team"), team).get("id"), team_id)
    return conversation_id, status


def _check_widget(name: str, p: dict[str, Any]) -> Envelope:
    account_id = an_id(an_object(p.get("account"), "account").get("id"), "account.id")
    an_id(an_object(p.get("inbox"), "inbox").get("id"), "inbox.id")
    a_string(an_object(p.get("contact"), "contact").get("name"), "contact.name")
    info = an_object(p.get("event_info"), "event_info")
    a_string(info.get("browser_language"), "event_info.browser_language")
    browser = an_object(info.get("browser"), "event_info.browser")
    a_string(browser.get("browser_language"), "event_info.browser.browser_language")
    return Envelope(name, "widget", account_id)


# -- construction: only ever on a payload that read_envelope accepted -----------------------------


def _message(envelope: Envelope, p: dict[str, Any]) -> MessageEvent:
    sender = p.get("sender") or {}
    return MessageEvent(
        event=envelope.event,
        account_id=envelope.account_id,  # type: ignore[arg-type]  # required by _check_message
        message_id=envelope.message_id,  # type: ignore[arg-type]
        content=p.get("content") or "",
        message_type=envelope.message_type,  # type: ignore[arg-type]
        content_type=text(p.get("content_type")) or "text",
        private=envelope.private,
        sender=Sender(id=sender.get("id"), name=text(sender.get("name")), type=envelope.sender_type),
        conversation=_conversation(p["conversation"]),
        attachments=tuple(
            Attachment(
                id=a.get("id"),
                file_type=text(a.get("file_type")) or "file",
                data_url=text(a.get("data_url")),
                file_size=a.get("file_size"),
            )
            for a in (p.get("attachments") or [])
        ),
        created_at=epoch_seconds(p.get("created_at")),
        raw=p,
    )


def _conversation_event(envelope: Envelope, p: dict[str, Any]) -> ConversationEvent:
    previous = None
    for change in p.get("changed_attributes") or []:
        status = change.get("status")
        if status is not None:
            previous = text(status.get("previous_value"))
    return ConversationEvent(
        event=envelope.event,
        account_id=envelope.account_id,  # type: ignore[arg-type]  # required by the check
        conversation=_conversation(p),
        previous_status=previous,
        raw=p,
    )


def _conversation(c: dict[str, Any]) -> Conversation:
    meta = c.get("meta") or {}
    return Conversation(
        id=c["id"],
        inbox_id=c.get("inbox_id"),
        status=text(c.get("status")),
        labels=tuple(c.get("labels") or ()),
        contact_name=text((meta.get("sender") or {}).get("name")),
        assignee_id=(meta.get("assignee") or {}).get("id"),
        team_id=(meta.get("team") or {}).get("id"),
    )
