"""Every event shape of CHATWOOT.md parsed from fixture files into typed frozen events."""

import dataclasses
from datetime import UTC, datetime

import pytest

from app.chatwoot.events import (
    ConversationEvent,
    EventError,
    MessageEvent,
    OtherEvent,
    WidgetEvent,
    parse_event,
)
from tests.support import fixture_event


def test_message_created_incoming():
    e = parse_event(fixture_event("message_created_incoming"))
    assert isinstance(e, MessageEvent)
    assert (e.event, e.account_id, e.message_id, e.conversation_id) == ("message_created", 1, 9001, 1234)
    assert e.message_type == "incoming" and e.private is False
    assert e.sender.type == "contact" and e.sender.name == "Maria Souza"
    assert e.conversation.status == "pending" and e.conversation.inbox_id == 3
    assert e.conversation.labels == ("whatsapp",)
    assert e.conversation.contact_name == "Maria Souza"
    assert e.content == "Oi, quanto custa o hidratante facial?"
    assert e.created_at == datetime(2026, 11, 29, 12, 0, tzinfo=UTC).timestamp()
    assert e.raw["source_id"].startswith("wamid.")


def test_events_are_frozen_and_raw_is_kept_aside():
    e = parse_event(fixture_event("message_created_incoming"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        e.content = "x"
    assert "raw" not in repr(e)


@pytest.mark.parametrize(
    "name, message_type, sender_type, private",
    [
        ("message_created_outgoing_bot", "outgoing", "agent_bot", False),
        ("message_created_outgoing_agent", "outgoing", "user", False),
        ("message_created_private_note", "outgoing", "user", True),
        ("message_created_activity", "activity", "unknown", False),
        ("message_created_template", "template", "user", False),
    ],
)
def test_message_variants(name, message_type, sender_type, private):
    e = parse_event(fixture_event(name))
    assert isinstance(e, MessageEvent)
    assert (e.message_type, e.sender.type, e.private) == (message_type, sender_type, private)


def test_message_with_audio_attachment_and_no_text():
    e = parse_event(fixture_event("message_created_audio"))
    assert e.content == ""
    assert [a.file_type for a in e.attachments] == ["audio"]
    assert e.attachments[0].data_url.endswith("audio.ogg")


def test_message_with_image_and_text():
    e = parse_event(fixture_event("message_created_image"))
    assert e.content == "Tem esse na cor rosa?" and e.attachments[0].file_type == "image"


def test_message_updated():
    e = parse_event(fixture_event("message_updated"))
    assert isinstance(e, MessageEvent) and e.event == "message_updated" and e.message_id == 9001


@pytest.mark.parametrize(
    "name, status, previous",
    [
        ("conversation_created", "pending", None),
        ("conversation_updated", "open", "pending"),
        ("conversation_status_changed", "open", "pending"),
        ("conversation_opened", "open", None),
        ("conversation_resolved", "resolved", None),
    ],
)
def test_conversation_events(name, status, previous):
    e = parse_event(fixture_event(name))
    assert isinstance(e, ConversationEvent)
    assert (e.event, e.account_id, e.conversation_id) == (name, 1, 1234)
    assert e.conversation.status == status and e.previous_status == previous


def test_conversation_event_account_from_embedded_message():
    payload = fixture_event("conversation_created")
    del payload["account_id"]
    assert parse_event(payload).account_id == 1


def test_webwidget_triggered():
    e = parse_event(fixture_event("webwidget_triggered"))
    assert isinstance(e, WidgetEvent)
    assert (e.account_id, e.inbox_id, e.contact_name, e.language) == (1, 3, "Maria Souza", "pt")


def test_unknown_event_type_is_other():
    e = parse_event({"event": "contact_created", "account": {"id": 1}})
    assert isinstance(e, OtherEvent) and e.event == "contact_created"


def test_integer_message_type_mapped():
    payload = fixture_event("message_created_incoming")
    payload["message_type"] = 1
    assert parse_event(payload).message_type == "outgoing"


@pytest.mark.parametrize(
    "mutate, field",
    [
        (lambda p: p.pop("event"), "event"),
        (lambda p: p.pop("conversation"), "conversation.id"),
        (lambda p: p.pop("account"), "account.id"),
        (lambda p: p.update(id="abc"), "'id'"),
        (lambda p: p.pop("message_type"), "message_type"),
    ],
)
def test_missing_required_fields_name_the_field(mutate, field):
    payload = fixture_event("message_created_incoming")
    mutate(payload)
    with pytest.raises(EventError, match=field):
        parse_event(payload)


def test_not_an_object():
    with pytest.raises(EventError):
        parse_event(["event"])  # type: ignore[arg-type]
