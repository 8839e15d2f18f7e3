"""Every request builder produces a call that Chatwoot's published swagger accepts, and the
validator used by the fake really catches requests that depart from it. No sockets."""

from __future__ import annotations

import pytest

from app.chatwoot import api
from tests.fakes.swagger import shared_validator

BUILT = {
    "reply": api.create_message(1, 7, "Olá, posso ajudar?"),
    "note": api.create_message(1, 7, "handoff: customer asked for a person", private=True),
    "typing_on": api.toggle_typing(1, 7, True),
    "typing_off": api.toggle_typing(1, 7, False),
    "status_open": api.toggle_status(1, 7, "open"),
    "status_resolved": api.toggle_status(1, 7, "resolved"),
    "labels": api.set_labels(1, 7, ["vip", "human-handoff"]),
    "labels_empty": api.set_labels(1, 7, []),
    "assign_team": api.assign_team(1, 7, 3),
    "get_agent_bot": api.get_agent_bot(1, 2),
    "update_agent_bot": api.update_agent_bot(1, 2, outgoing_url="https://a.ngrok.app/webhook?token=x"),
    "list_webhooks": api.list_webhooks(1),
    "create_webhook": api.create_webhook(1, "https://a.ngrok.app/webhook", ["message_created"]),
    "update_webhook": api.update_webhook(
        1, 9, "https://b.ngrok.app/webhook", ["message_created", "conversation_status_changed"], name="bot"
    ),
    "profile": api.get_profile(),
    "get_conversation": api.get_conversation(1, 7),
}


@pytest.fixture(scope="module")
def validator():
    return shared_validator()


@pytest.mark.parametrize("name", sorted(BUILT))
def test_builder_matches_swagger(validator, name):
    request = BUILT[name]
    assert request.path.startswith("/api/v1/")
    assert validator.check(request.method, request.path, request.json) == []


def test_reply_body_is_what_spec_7_says():
    assert BUILT["reply"].json == {
        "content": "Olá, posso ajudar?",
        "message_type": "outgoing",
        "private": False,
        "content_type": "text",
    }
    assert BUILT["reply"].purpose == "reply"
    assert BUILT["note"].json["private"] is True and BUILT["note"].purpose == "note"


def test_typing_and_status_bodies():
    assert BUILT["typing_on"].json == {"typing_status": "on"}
    assert BUILT["typing_off"].json == {"typing_status": "off"}
    assert BUILT["status_open"].json == {"status": "open"}
    assert BUILT["status_open"].purpose == "status_open"


def test_labels_are_deduplicated_and_kept_in_order():
    assert api.set_labels(1, 7, ["a", "b", "a", " b "]).json == {"labels": ["a", "b"]}


def test_registration_bodies():
    assert BUILT["update_agent_bot"].method == "PATCH"
    assert BUILT["update_agent_bot"].json == {"outgoing_url": "https://a.ngrok.app/webhook?token=x"}
    assert BUILT["create_webhook"].json == {
        "url": "https://a.ngrok.app/webhook",
        "subscriptions": ["message_created"],
    }
    assert "name" not in BUILT["create_webhook"].json  # omitted, never null
    assert BUILT["list_webhooks"].json is None and BUILT["get_agent_bot"].json is None


def test_describe_names_the_call_but_never_the_body():
    text = BUILT["reply"].describe()
    assert text == "POST /api/v1/accounts/1/conversations/7/messages (reply)"
    assert "Olá" not in text


@pytest.mark.parametrize(
    "build",
    [
        lambda: api.create_message(0, 7, "x"),
        lambda: api.create_message(1, -1, "x"),
        lambda: api.create_message(1, "7/../../profile", "x"),
        lambda: api.create_message(1, True, "x"),
        lambda: api.create_message(1, 7, "   "),
        lambda: api.toggle_status(1, 7, "closed"),
        lambda: api.set_labels(1, 7, "vip"),
        lambda: api.set_labels(1, 7, ["ok", ""]),
        lambda: api.assign_team(1, 7, 0),
        lambda: api.update_agent_bot(1, 2, outgoing_url="ftp://x"),
        lambda: api.create_webhook(1, "https://x", "message_created"),
        lambda: api.create_webhook(1, "https://x", ["conversation_opened"]),
        lambda: api.create_webhook(1, "https://x", []),
    ],
)
def test_builders_refuse_bad_input(build):
    with pytest.raises(ValueError):
        build()


def test_numeric_string_ids_are_accepted():
    assert api.toggle_status("1", "7", "open").path == "/api/v1/accounts/1/conversations/7/toggle_status"


# -- the validator catches what does not match -------------------------------------------
MESSAGES = "/api/v1/accounts/1/conversations/7/messages"


@pytest.mark.parametrize(
    ("method", "path", "body", "expected"),
    [
        ("POST", MESSAGES, {"content": "x", "message_type": "out"}, "is not one of"),
        ("POST", MESSAGES, {"message_type": "outgoing"}, "'content' is a required property"),
        ("POST", MESSAGES, {"content": 42}, "is not of type 'string'"),
        ("POST", MESSAGES, {"content": "x", "privat": True}, "unknown property 'privat'"),
        ("POST", MESSAGES, None, "a JSON body is required"),
        (
            "POST",
            "/api/v1/accounts/1/conversations/7/toggle_status",
            {"status": "open", "snoozed_until": None},
            "None is not of type 'number'",
        ),
        ("POST", "/api/v1/accounts/1/conversations/7/toggle_typing_status", {"typing": "on"}, "required"),
        ("POST", "/api/v1/accounts/1/conversations/7/labels", {"labels": "vip"}, "is not of type 'array'"),
        (
            "POST",
            "/api/v1/accounts/1/webhooks",
            {"url": "https://x", "subscriptions": ["nope"]},
            "is not one of",
        ),
        ("PUT", "/api/v1/accounts/1/agent_bots/2", {"outgoing_url": "https://x"}, "PUT is not defined"),
        ("POST", "/api/v1/accounts/1/conversations/7/reply", {"content": "x"}, "no swagger path matches"),
        ("POST", "/api/v1/accounts/one/conversations/7/messages", {"content": "x"}, "must be an integer"),
        ("GET", "/api/v1/accounts/1/webhooks", {"unexpected": 1}, "takes no JSON body"),
    ],
)
def test_validator_catches_mismatch(validator, method, path, body, expected):
    problems = validator.check(method, path, body)
    assert problems, f"expected a violation for {method} {path} {body}"
    assert any(expected in p for p in problems), problems


def test_literal_segments_win_over_parameters(validator):
    op, problems = validator.match("GET", "/api/v1/accounts/1/conversations/meta")
    assert problems == [] and op.template.endswith("/conversations/meta")
    op, _ = validator.match("GET", "/api/v1/accounts/1/conversations/7")
    assert op.template.endswith("/conversations/{conversation_id}") and op.params["conversation_id"] == "7"


def test_operations_bots_may_call_say_so(validator):
    op, _ = validator.match("POST", MESSAGES)
    assert "agentBotApiKey" in op.security
    op, _ = validator.match("GET", "/api/v1/profile")
    assert op.security == ("userApiKey",)


@pytest.mark.parametrize(
    ("request_", "idempotent"),
    [
        (api.create_message(1, 2, "oi"), False),
        (api.create_message(1, 2, "nota", private=True), False),
        (api.create_webhook(1, "https://x.example/webhook", ["message_created"]), False),
        (api.toggle_status(1, 2, "open"), True),
        (api.toggle_typing(1, 2, True), True),
        (api.set_labels(1, 2, ["a"]), True),
        (api.assign_team(1, 2, 3), True),
        (api.update_agent_bot(1, 4, outgoing_url="https://x.example/webhook"), True),
        (api.get_conversation(1, 2), True),
    ],
)
def test_which_requests_are_safe_to_send_twice(request_, idempotent):
    assert request_.idempotent is idempotent
