"""What the Chatwoot fake (`tests/fakes/chatwoot.py`) answers once a request has passed the
swagger check and the injected faults: the token and account checks, then one handler per
faked endpoint over the fake's state, dispatched through the route tables below.

Everything here runs in the fake's handler threads; handlers are called with the fake's lock
held and return (status, body, headers).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.fakes.chatwoot import ChatwootFake

NOT_FOUND = {"error": "Resource could not be found"}
_CONV = "/api/v1/accounts/{account_id}/conversations/{conversation_id}"
# What an agent bot token may call (Chatwoot's AccessTokenAuthHelper::BOT_ACCESSIBLE_ENDPOINTS).
_BOT_ALLOWED = {
    ("POST", f"{_CONV}/messages"),
    ("POST", f"{_CONV}/toggle_status"),
    ("POST", f"{_CONV}/toggle_typing_status"),
    ("POST", f"{_CONV}/toggle_priority"),
    ("POST", f"{_CONV}/custom_attributes"),
    ("POST", f"{_CONV}/assignments"),
    ("GET", _CONV),
    ("PATCH", _CONV),
    ("POST", "/api/v1/accounts/{account_id}/conversations"),
}
_BOT_LABELS = {("GET", f"{_CONV}/labels"), ("POST", f"{_CONV}/labels")}


def route(fake: ChatwootFake, method: str, template: str, params: dict[str, str], headers: dict, body: dict) -> tuple:
    """Token and account checks, then the endpoint's handler (404 for one the fake does not fake)."""
    token = headers.get("api_access_token", "")
    if token in fake.bot_tokens:
        allowed = _BOT_ALLOWED | (_BOT_LABELS if fake.bot_can_label else set())
        if (method, template) not in allowed:
            return 401, {"error": "Access to this endpoint is not authorized for bots"}, {}
    elif token not in fake.user_tokens:
        return 401, {"error": "Invalid Access Token"}, {}
    if "account_id" in params and int(params["account_id"]) not in fake.account_ids:
        return 404, NOT_FOUND, {}
    suffix = template.removeprefix("/api/v1/accounts/{account_id}")
    with fake._cond:
        if suffix.startswith("/conversations/{conversation_id}"):
            handler = CONVERSATION_ROUTES.get(
                (method, suffix.removeprefix("/conversations/{conversation_id}"))
            )
            cid = int(params["conversation_id"])
            if cid not in fake.conversations and fake.auto_create_conversations:
                fake.add_conversation(cid)
            if handler is None or cid not in fake.conversations:
                return 404, NOT_FOUND, {}
            return handler(fake, fake.conversations[cid], body, token)
        handler = ROUTES.get((method, suffix))
        # Calls in the swagger that the appliance never makes are not faked.
        return handler(fake, params, body) if handler else (404, NOT_FOUND, {})


# -- handlers: called with the fake's lock held; return (status, body, headers) -----------
def new_message(fake: ChatwootFake, conv: dict, content: str, *, message_type: int = 1, private: bool = False,
                content_type: str = "text", content_attributes: dict | None = None,
                sender_type: str = "AgentBot") -> dict:
    """A message as Chatwoot's push_event_data shows it (ids grow across the installation)."""
    kind = {"AgentBot": "agent_bot", "User": "user", "Contact": "contact"}[sender_type]
    return {
        "id": next(fake._ids),
        "content": content,
        "account_id": min(fake.account_ids, default=1),
        "inbox_id": 1,
        "conversation_id": conv["id"],
        "message_type": message_type,
        "content_type": content_type,
        "content_attributes": content_attributes or {},
        "created_at": int(time.time()),
        "private": private,
        "status": "sent",
        "source_id": None,
        "sender_type": sender_type,
        "sender_id": 1,
        "sender": {"id": 1, "name": {"agent_bot": "ChatwootAI", "user": "Admin"}.get(kind, "Customer"), "type": kind},
    }


def _create_message(fake: ChatwootFake, conv: dict, body: dict, token: str) -> tuple:
    message = new_message(
        fake, conv, body["content"],
        message_type=1 if body.get("message_type", "outgoing") == "outgoing" else 0,
        private=bool(body.get("private", False)),
        content_type=body.get("content_type", "text"),
        # Chatwoot keeps only the content attributes it knows; an echo id of ours would be lost.
        content_attributes={k: v for k, v in (body.get("content_attributes") or {}).items()
                            if k in ("in_reply_to", "items")},
        sender_type="AgentBot" if token in fake.bot_tokens else "User",
    )
    conv["messages"].append(message)
    return 200, message, {}


def _toggle_typing(fake: ChatwootFake, conv: dict, body: dict, token: str) -> tuple:
    conv["typing"] = body["typing_status"]
    return 200, None, {}  # Chatwoot answers `head :ok`


def _toggle_status(fake: ChatwootFake, conv: dict, body: dict, token: str) -> tuple:
    conv["status"] = body["status"]
    payload = {"success": True, "current_status": conv["status"], "conversation_id": conv["id"]}
    return 200, {"meta": {}, "payload": payload}, {}


def _labels(fake: ChatwootFake, conv: dict, body: dict, token: str) -> tuple:
    if "labels" in body:  # POST replaces the list, as Chatwoot does
        conv["labels"] = list(dict.fromkeys(body["labels"]))
    return 200, {"payload": list(conv["labels"])}, {}


def _assign(fake: ChatwootFake, conv: dict, body: dict, token: str) -> tuple:
    if body.get("assignee_id") is not None:
        conv["assignee_id"] = int(body["assignee_id"])
        return 200, {"id": conv["assignee_id"], "name": "Agent", "role": "agent"}, {}
    conv["team_id"] = int(body["team_id"]) if body.get("team_id") is not None else None
    return 200, {"id": conv["team_id"], "name": f"Team {conv['team_id']}"}, {}


def _show_conversation(fake: ChatwootFake, conv: dict, body: dict, token: str) -> tuple:
    # As Chatwoot's conversation partial: `messages` holds only the very last message, and
    # `last_non_activity_message` the newest one that is not an activity message.
    shown = {k: v for k, v in conv.items() if k not in ("messages", "typing")} | {"inbox_id": 1}
    messages = conv["messages"]
    shown["messages"] = [dict(messages[-1])] if messages else []
    newest = next((m for m in reversed(messages) if m["message_type"] != 2), None)
    shown["last_non_activity_message"] = dict(newest) if newest else None
    return 200, shown, {}


def _list_messages(fake: ChatwootFake, conv: dict, body: dict, token: str) -> tuple:
    # Chatwoot's MessageFinder without `before`: the latest 20, oldest first. Bots never get here.
    meta = {"labels": list(conv["labels"]), "additional_attributes": {}}
    return 200, {"meta": meta, "payload": [dict(m) for m in conv["messages"][-20:]]}, {}


def _agent_bot(fake: ChatwootFake, params: dict, body: dict) -> tuple:
    bot = fake.agent_bots.get(int(params["id"]))
    if bot is None:
        return 404, NOT_FOUND, {}
    bot.update({k: v for k, v in body.items() if k in ("name", "description", "outgoing_url", "bot_config")})
    return 200, dict(bot), {}


def _create_agent_bot(fake: ChatwootFake, params: dict, body: dict) -> tuple:
    bot = fake.add_agent_bot(
        next(fake._ids), outgoing_url=body.get("outgoing_url", ""), name=body.get("name", "")
    )
    return 200, dict(bot), {}


def _set_agent_bot(fake: ChatwootFake, params: dict, body: dict) -> tuple:
    fake.inbox_bots[int(params["id"])] = int(body["agent_bot"])
    return 204, None, {}


# Real Chatwoot wraps webhooks in `payload` (the swagger does not say so).
def _list_webhooks(fake: ChatwootFake, params: dict, body: dict) -> tuple:
    return 200, {"payload": {"webhooks": [dict(h) for h in fake.webhooks.values()]}}, {}


def _create_webhook(fake: ChatwootFake, params: dict, body: dict) -> tuple:
    hook = fake.add_webhook(body.get("url", ""), body.get("subscriptions", []), name=body.get("name", ""))
    return 200, {"payload": {"webhook": dict(hook)}}, {}


def _update_webhook(fake: ChatwootFake, params: dict, body: dict) -> tuple:
    hook = fake.webhooks.get(int(params["webhook_id"]))
    if hook is None:
        return 404, NOT_FOUND, {}
    hook.update({k: v for k, v in body.items() if k in ("url", "subscriptions", "name")})
    return 200, {"payload": {"webhook": dict(hook)}}, {}


def _delete_webhook(fake: ChatwootFake, params: dict, body: dict) -> tuple:
    return (200, None, {}) if fake.webhooks.pop(int(params["webhook_id"]), None) else (404, NOT_FOUND, {})


def _profile(fake: ChatwootFake, params: dict, body: dict) -> tuple:
    accounts = [{"id": a, "name": f"Account {a}", "role": "administrator"} for a in sorted(fake.account_ids)]
    profile = {"id": 1, "name": "Admin", "available_name": "Admin", "email": "admin@example.com"}
    return 200, profile | {"role": "administrator", "confirmed": True, "accounts": accounts}, {}


# Keyed by (method, template suffix after /conversations/{conversation_id}); the conversation
# is looked up (or auto-created) before the handler runs.
CONVERSATION_ROUTES: dict[tuple[str, str], Callable[..., tuple]] = {
    ("POST", "/messages"): _create_message,
    ("GET", "/messages"): _list_messages,
    ("POST", "/toggle_typing_status"): _toggle_typing,
    ("POST", "/toggle_status"): _toggle_status,
    ("GET", "/labels"): _labels,
    ("POST", "/labels"): _labels,
    ("POST", "/assignments"): _assign,
    ("GET", ""): _show_conversation,
}
ROUTES: dict[tuple[str, str], Callable[..., tuple]] = {
    ("GET", "/agent_bots/{id}"): _agent_bot,
    ("PATCH", "/agent_bots/{id}"): _agent_bot,
    ("POST", "/agent_bots"): _create_agent_bot,
    ("POST", "/inboxes/{id}/set_agent_bot"): _set_agent_bot,
    ("GET", "/webhooks"): _list_webhooks,
    ("POST", "/webhooks"): _create_webhook,
    ("PATCH", "/webhooks/{webhook_id}"): _update_webhook,
    ("DELETE", "/webhooks/{webhook_id}"): _delete_webhook,
    ("GET", "/api/v1/profile"): _profile,
}
