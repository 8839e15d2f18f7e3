"""Every event shape of CHATWOOT.md parsed from fixture files into typed frozen events."""

import dataclasses
import json
import re
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.chatwoot.events import (
    ConversationEvent,
    EventError,
    MessageEvent,
    OtherEvent,
    WidgetEvent,
    parse_event,
    read_envelope,
)
from tests.support import FIXTURES, fixture_event


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


# -- strict types at the door (issue 7): every id a positive JSON integer that fits SQLite ----------

ID_FIELDS = {
    "id": lambda p, v: p.update(id=v),
    "account.id": lambda p, v: p["account"].update(id=v),
    "conversation.id": lambda p, v: p["conversation"].update(id=v),
    "conversation.inbox_id": lambda p, v: p["conversation"].update(inbox_id=v),
    "inbox.id": lambda p, v: p["inbox"].update(id=v),
    "sender.id": lambda p, v: p["sender"].update(id=v),
    "conversation.meta.assignee.id": lambda p, v: p["conversation"]["meta"].update(assignee={"id": v}),
    "attachments[0].id": lambda p, v: p.update(attachments=[{"id": v, "file_type": "image"}]),
}
BAD_IDS = ["²", "١٢٣", "123", True, False, 1.5, 1.0, 0, -7, 2**63, 2**64, [], {}]


@pytest.mark.parametrize("field", list(ID_FIELDS))
@pytest.mark.parametrize("value", BAD_IDS, ids=repr)
def test_id_fields_must_be_positive_json_integers_below_2_63(field, value):
    payload = fixture_event("message_created_incoming")
    ID_FIELDS[field](payload, value)
    for read in (read_envelope, parse_event):
        with pytest.raises(EventError, match=re.escape(f"'{field}'")):
            read(payload)


def test_largest_sqlite_integer_is_a_valid_id():
    payload = fixture_event("message_created_incoming")
    payload["id"] = 2**63 - 1
    assert parse_event(payload).message_id == 2**63 - 1 and read_envelope(payload).message_id == 2**63 - 1


@pytest.mark.parametrize("value", [5, 1.5, True, "whatsapp", {"a": 1}, [1], ["ok", None]], ids=repr)
def test_labels_of_the_wrong_type_are_refused(value):
    payload = fixture_event("message_created_incoming")
    payload["conversation"]["labels"] = value
    with pytest.raises(EventError, match="conversation.labels"):
        parse_event(payload)


@pytest.mark.parametrize("value", [5, 1.5, True, "status", {"status": {}}, [5], [{"status": 5}],
                                   [{"status": {"previous_value": 3}}]], ids=repr)
def test_changed_attributes_of_the_wrong_type_are_refused(value):
    payload = fixture_event("conversation_status_changed")
    payload["changed_attributes"] = value
    with pytest.raises(EventError, match="changed_attributes"):
        parse_event(payload)


@pytest.mark.parametrize("value", [False, True, 7, -1, 0.0, "", None, ["incoming"]], ids=repr)
def test_message_type_that_is_not_a_type_is_refused_never_read_as_incoming(value):
    # `false` used to be read as 0, that is "incoming", and answered.
    payload = fixture_event("message_created_incoming")
    payload["message_type"] = value
    with pytest.raises(EventError, match="message_type"):
        parse_event(payload)


@pytest.mark.parametrize(
    "path, value",
    [(("private",), "false"), (("private",), 0), (("content",), 5), (("sender",), "Maria"),
     (("sender", "type"), 1), (("conversation",), [1]), (("conversation", "status"), True),
     (("conversation", "meta"), 5), (("conversation", "meta", "assignee"), "x"), (("attachments",), {}),
     (("attachments",), [5]), (("account",), 1), (("inbox",), "x")],
    ids=str,
)
def test_other_read_fields_of_the_wrong_type_are_refused_by_name(path, value):
    payload = fixture_event("message_created_incoming")
    payload.setdefault("attachments", [])
    target = payload
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(EventError, match=re.escape(path[-1])):
        read_envelope(payload)


def test_null_optional_fields_read_as_absent():
    payload = fixture_event("message_created_incoming")
    payload.update(private=None, content=None, sender=None, attachments=None, inbox=None)
    payload["conversation"].update(labels=None, meta=None, inbox_id=None, status=None)
    e = parse_event(payload)
    assert (e.private, e.content, e.sender.type, e.attachments, e.conversation.labels) == (False, "", "unknown", (), ())


@pytest.mark.parametrize("name", sorted(p.stem for p in (FIXTURES / "events").glob("*.json")))
def test_envelope_agrees_with_the_parsed_event_on_every_fixture(name):
    payload = fixture_event(name)
    envelope, event = read_envelope(payload), parse_event(payload)
    assert (envelope.event, envelope.account_id, envelope.conversation_id) == (
        event.event, event.account_id, event.conversation_id)
    if isinstance(event, MessageEvent):
        assert (envelope.message_id, envelope.message_type, envelope.private, envelope.sender_type,
                envelope.status) == (event.message_id, event.message_type, event.private, event.sender.type,
                                     event.conversation.status)


# -- one definition, two readers: whatever the door accepts, the worker parses --------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**64), max_value=2**64) | st.floats(allow_nan=False)
    | st.text(max_size=8) | st.sampled_from(["²", "١٢٣", "42", "incoming", "pending", ""]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)
FIXTURE_NAMES = sorted(p.stem for p in (FIXTURES / "events").glob("*.json"))


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield from _paths(child, (*prefix, i))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(FIXTURE_NAMES), pick=st.integers(min_value=0), value=JSON_VALUES)
def test_door_and_worker_agree_on_every_mutated_field(name, pick, value):
    payload = fixture_event(name)
    paths = [p for p in _paths(payload) if p]
    path = paths[pick % len(paths)]
    target = payload
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    try:
        envelope = read_envelope(payload)
    except EventError:
        with pytest.raises(EventError):
            parse_event(payload)
        return
    event = parse_event(payload)  # never raises on what the door accepted
    assert (envelope.account_id, envelope.conversation_id) == (event.account_id, event.conversation_id)
    for value in (envelope.account_id, envelope.conversation_id, envelope.message_id):
        assert value is None or (type(value) is int and 0 < value < 2**63)


@pytest.mark.parametrize("depth", [65, 999, 1020])
def test_nesting_deeper_than_any_chatwoot_payload_is_refused(depth):
    # ~1000 levels pass orjson at the door and then raise RecursionError in the standard json
    # module (the worker's reader): such a body must be refused, never stored.
    payload = fixture_event("message_created_incoming")
    deep: list = []
    for _ in range(depth - 2):
        deep = [deep]
    payload["content_attributes"] = deep
    raw = json.dumps({**payload, "content_attributes": "DEEP"}).encode().replace(
        b'"DEEP"', b"[" * (depth - 1) + b"]" * (depth - 1))
    for read in (lambda: read_envelope(payload), lambda: read_envelope(payload, raw), lambda: parse_event(payload)):
        with pytest.raises(EventError, match="nested deeper than 64 levels"):
            read()


def test_a_body_with_many_brackets_but_shallow_is_accepted():
    payload = fixture_event("message_created_incoming")
    payload["content"] = "[{" * 500
    assert read_envelope(payload, json.dumps(payload).encode()).message_id == 9001


# Each conversation field is refused under its own full name, in a message event (under
# "conversation.") and in a conversation event (at top level): the names are built once per prefix.
CONVERSATION_FIELDS = {
    "id": (lambda c: c.update(id="7"), "id"),
    "inbox_id": (lambda c: c.update(inbox_id="3"), "inbox_id"),
    "status": (lambda c: c.update(status=5), "status"),
    "labels": (lambda c: c.update(labels="vip"), "labels"),
    "labels[1]": (lambda c: c.update(labels=["ok", 5]), "labels[1]"),
    "meta": (lambda c: c.update(meta=[]), "meta"),
    "meta.sender": (lambda c: c.update(meta={"sender": "Maria"}), "meta.sender"),
    "meta.sender.name": (lambda c: c.update(meta={"sender": {"name": 5}}), "meta.sender.name"),
    "meta.assignee": (lambda c: c.update(meta={"assignee": 5}), "meta.assignee"),
    "meta.assignee.id": (lambda c: c.update(meta={"assignee": {"id": "5"}}), "meta.assignee.id"),
    "meta.team": (lambda c: c.update(meta={"team": "sales"}), "meta.team"),
    "meta.team.id": (lambda c: c.update(meta={"team": {"id": 0}}), "meta.team.id"),
}


@pytest.mark.parametrize("field", list(CONVERSATION_FIELDS))
@pytest.mark.parametrize("fixture, prefix", [("message_created_incoming", "conversation."),
                                             ("conversation_status_changed", "")])
def test_each_conversation_field_is_refused_under_its_own_name(field, fixture, prefix):
    payload = fixture_event(fixture)
    spoil, name = CONVERSATION_FIELDS[field]
    spoil(payload["conversation"] if prefix else payload)
    for read in (read_envelope, parse_event):
        with pytest.raises(EventError, match=re.escape(f"'{prefix}{name}'")):
            read(payload)
