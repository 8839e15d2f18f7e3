"""The answer predicate and the takeover state machine (docs/architecture.md#events-the-bot-answers)."""

import pytest

from app.chatwoot.events import parse_event
from app.chatwoot.policy import classify, next_handler
from tests.support import fixture_event

PENDING = frozenset({"pending"})


def event(name, **changes):
    payload = fixture_event(name)
    status = changes.pop("status", None)
    payload.update(changes)
    if status is not None:
        target = payload["conversation"] if "conversation" in payload else payload
        target["status"] = status
    return parse_event(payload)


def test_incoming_contact_message_in_pending_is_answered():
    v = classify(event("message_created_incoming"), PENDING)
    assert v.store and v.answer and v.reason is None


def test_outgoing_bot_message_is_context_only():
    v = classify(event("message_created_outgoing_bot"), PENDING)
    assert v.store and not v.answer and v.reason == "outgoing message"


def test_agent_message_is_context_only():
    v = classify(event("message_created_outgoing_agent"), PENDING)
    assert v.store and not v.answer


def test_private_note_is_not_answered():
    payload = fixture_event("message_created_incoming")
    payload["private"] = True
    v = classify(parse_event(payload), PENDING)
    assert not v.answer and v.reason == "private note"


def test_agent_bot_sender_is_not_answered():
    payload = fixture_event("message_created_incoming")
    payload["sender"]["type"] = "agent_bot"
    assert classify(parse_event(payload), PENDING).reason == "sender is agent_bot"


def test_user_sender_incoming_is_not_answered():
    payload = fixture_event("message_created_incoming")
    payload["sender"]["type"] = "user"
    assert classify(parse_event(payload), PENDING).reason == "sender is user"


def test_activity_message_is_not_answered():
    assert classify(event("message_created_activity"), PENDING).reason == "activity message"


def test_template_message_is_not_answered():
    assert classify(event("message_created_template"), PENDING).reason == "template message"


@pytest.mark.parametrize("status, answered", [("pending", True), ("open", False), ("resolved", False), ("snoozed", False)])
def test_each_conversation_status(status, answered):
    v = classify(event("message_created_incoming", status=status), PENDING)
    assert v.answer is answered
    if not answered:
        assert v.reason == f"conversation is {status}"


def test_configured_statuses_widen_what_is_answered():
    assert classify(event("message_created_incoming", status="open"), {"pending", "open"}).answer


def test_message_edit_is_context_only():
    assert classify(event("message_updated"), PENDING).reason == "message edit"


def test_conversation_events_are_stored_not_answered():
    v = classify(event("conversation_status_changed"), PENDING)
    assert v.store and not v.answer


def test_widget_and_unknown_events_are_ignored_unstored():
    v = classify(event("webwidget_triggered"), PENDING)
    assert not v.store and v.reason == "event webwidget_triggered not handled"
    other = classify(parse_event({"event": "contact_created", "account": {"id": 1}}), PENDING)
    assert not other.store and not other.answer


def test_agent_public_message_takes_over_even_while_pending():
    assert next_handler("bot", "pending", event("message_created_outgoing_agent"), PENDING) == ("human", "pending")


def test_agent_private_note_does_not_take_over():
    assert next_handler("bot", "pending", event("message_created_private_note"), PENDING) == ("bot", "pending")


def test_status_leaving_pending_takes_over():
    assert next_handler("bot", "pending", event("conversation_status_changed"), PENDING) == ("human", "open")


def test_pending_again_hands_back_to_bot():
    back = event("conversation_updated", status="pending")
    assert next_handler("human", "open", back, PENDING) == ("bot", "pending")


def test_incoming_while_human_and_still_pending_stays_human():
    assert next_handler("human", "pending", event("message_created_incoming"), PENDING) == ("human", "pending")


def test_bot_own_message_changes_nothing():
    assert next_handler("bot", "pending", event("message_created_outgoing_bot"), PENDING) == ("bot", "pending")
