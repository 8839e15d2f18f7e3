"""Chatwoot REST calls as data: each builder returns a `Request` and performs no I/O.

The httpx adapter (`app/client.py`) sends them; tests validate them against Chatwoot's
published OpenAPI document (`tests/fakes/swagger.py`) without a socket.

Notes from checking every builder against `chatwoot-swagger.json`:
- Optional fields are omitted rather than sent as null: the swagger types them without null
  (e.g. `snoozed_until: number`), so `null` would not match.
- `POST …/labels` lists only the user token in the swagger, while Chatwoot's source lets agent
  bot tokens add labels only in recent versions; older servers answer 401 to a bot token there.
- `GET /api/v1/profile` needs a user token: an agent bot token gets 401 from it.
- The swagger says `GET …/webhooks` returns an array and `POST/PATCH` a webhook object; real
  Chatwoot wraps them: `{"payload": {"webhooks": [...]}}` and `{"payload": {"webhook": {...}}}`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

API_PREFIX = "/api/v1"
CONVERSATION_STATUSES = ("open", "resolved", "pending", "snoozed")
# The swagger's enum for account webhooks; agent-bot-only events are not subscribable here.
WEBHOOK_EVENTS = (
    "conversation_created",
    "conversation_status_changed",
    "conversation_updated",
    "message_created",
    "message_updated",
    "contact_created",
    "contact_updated",
    "webwidget_triggered",
)


# POSTs to these paths create something new each time they are sent.
_CREATES = ("/messages", "/webhooks", "/agent_bots")


@dataclass(frozen=True)
class Request:
    """One call to Chatwoot: what to send, never how."""

    method: str  # "POST" | "PATCH" | "GET" | "DELETE"
    path: str  # always starts with /api/v1
    json: dict[str, Any] | None = None
    purpose: str = ""  # short label for logs, metrics and dead letters

    @property
    def idempotent(self) -> bool:
        """Sending it twice has the effect of sending it once (reads, PATCHes, toggles, labels,
        assignments) — unlike creating a message, a webhook or an agent bot.

        The one rule for "at most once" in the code base: the client does not repeat a request
        that is not idempotent after an ambiguous outcome, and the sender marks it `sending`
        before the POST and looks at Chatwoot before ever sending it again.
        """
        if self.method != "POST":
            return True
        return not self.path.endswith(_CREATES)

    def describe(self) -> str:
        """A log-safe one-liner: method, path and purpose, never the body."""
        return f"{self.method} {self.path}" + (f" ({self.purpose})" if self.purpose else "")


def _id(name: str, value: int) -> int:
    # Ids go into the URL path: accepting only positive integers keeps a stray string
    # (or a "../") from addressing some other resource.
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and value.isdigit():
            value = int(value)
        else:
            raise ValueError(f"{name} must be a positive integer")
    if value <= 0:
        raise ValueError(f"{name} must be a positive integer")
    return value


def _account(account_id: int) -> str:
    return f"{API_PREFIX}/accounts/{_id('account_id', account_id)}"


def _conversation(account_id: int, conversation_id: int) -> str:
    return f"{_account(account_id)}/conversations/{_id('conversation_id', conversation_id)}"


def create_message(account_id: int, conversation_id: int, content: str, *, private: bool = False) -> Request:
    """A public reply (or, with `private=True`, a private note for the agents)."""
    if not isinstance(content, str) or not content.strip():
        raise ValueError("content must be a non-empty string")
    return Request(
        "POST",
        f"{_conversation(account_id, conversation_id)}/messages",
        {"content": content, "message_type": "outgoing", "private": bool(private), "content_type": "text"},
        "note" if private else "reply",
    )


def get_conversation(account_id: int, conversation_id: int) -> Request:
    """The conversation as Chatwoot holds it. An agent bot token may read it; its
    `last_non_activity_message` and `messages` (the very last one) show the newest messages, which is
    how the sender tells whether a reply whose POST got no clear answer was saved. `doctor` reads
    one too, as its harmless check of the bot token (404 for an unknown id still means accepted)."""
    return Request("GET", _conversation(account_id, conversation_id), None, "check_conversation")


def list_messages(account_id: int, conversation_id: int) -> Request:
    """The conversation's latest messages (up to 20, oldest first). Chatwoot refuses it to agent bot
    tokens (401 "not authorized for bots"): send it with the admin (user) token."""
    return Request("GET", f"{_conversation(account_id, conversation_id)}/messages", None, "check_messages")


def toggle_typing(account_id: int, conversation_id: int, on: bool) -> Request:
    return Request(
        "POST",
        f"{_conversation(account_id, conversation_id)}/toggle_typing_status",
        {"typing_status": "on" if on else "off"},
        "typing_on" if on else "typing_off",
    )


def toggle_status(account_id: int, conversation_id: int, status: str) -> Request:
    """Set the status explicitly; `open` is the handoff to humans."""
    if status not in CONVERSATION_STATUSES:
        raise ValueError(f"status must be one of {', '.join(CONVERSATION_STATUSES)}")
    return Request(
        "POST",
        f"{_conversation(account_id, conversation_id)}/toggle_status",
        {"status": status},
        f"status_{status}",
    )


def set_labels(account_id: int, conversation_id: int, labels: Sequence[str]) -> Request:
    """Chatwoot REPLACES the conversation's labels with this list: pass existing + new."""
    if isinstance(labels, str):
        raise ValueError("labels must be a sequence of strings, not one string")
    cleaned: list[str] = []
    for label in labels:
        if not isinstance(label, str) or not label.strip():
            raise ValueError("every label must be a non-empty string")
        if label.strip() not in cleaned:  # duplicates would be stored once anyway
            cleaned.append(label.strip())
    return Request(
        "POST", f"{_conversation(account_id, conversation_id)}/labels", {"labels": cleaned}, "labels"
    )


def assign_team(account_id: int, conversation_id: int, team_id: int) -> Request:
    return Request(
        "POST",
        f"{_conversation(account_id, conversation_id)}/assignments",
        {"team_id": _id("team_id", team_id)},
        "assign_team",
    )


def get_agent_bot(account_id: int, bot_id: int) -> Request:
    return Request("GET", f"{_account(account_id)}/agent_bots/{_id('bot_id', bot_id)}", None, "get_agent_bot")


def update_agent_bot(account_id: int, bot_id: int, *, outgoing_url: str) -> Request:
    """Point the agent bot at our public webhook URL (the `register` program)."""
    return Request(
        "PATCH",
        f"{_account(account_id)}/agent_bots/{_id('bot_id', bot_id)}",
        {"outgoing_url": _url(outgoing_url)},
        "register",
    )


def list_webhooks(account_id: int) -> Request:
    return Request("GET", f"{_account(account_id)}/webhooks", None, "list_webhooks")


def create_webhook(
    account_id: int, url: str, subscriptions: Sequence[str], *, name: str | None = None
) -> Request:
    return Request(
        "POST", f"{_account(account_id)}/webhooks", _webhook_body(url, subscriptions, name), "register"
    )


def update_webhook(
    account_id: int, webhook_id: int, url: str, subscriptions: Sequence[str], *, name: str | None = None
) -> Request:
    return Request(
        "PATCH",
        f"{_account(account_id)}/webhooks/{_id('webhook_id', webhook_id)}",
        _webhook_body(url, subscriptions, name),
        "register",
    )


def get_profile() -> Request:
    """The token owner's profile: `doctor`'s check of a user (admin) token."""
    return Request("GET", f"{API_PREFIX}/profile", None, "profile")


def _url(url: str) -> str:
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        raise ValueError("url must be an absolute http(s) URL")
    return url


def _webhook_body(url: str, subscriptions: Sequence[str], name: str | None) -> dict[str, Any]:
    if isinstance(subscriptions, str):
        raise ValueError("subscriptions must be a sequence of event names, not one string")
    unknown = [s for s in subscriptions if s not in WEBHOOK_EVENTS]
    if unknown or not subscriptions:
        raise ValueError(f"subscriptions must be a non-empty subset of {', '.join(WEBHOOK_EVENTS)}")
    body: dict[str, Any] = {"url": _url(url), "subscriptions": list(dict.fromkeys(subscriptions))}
    if name is not None:
        body["name"] = name
    return body
