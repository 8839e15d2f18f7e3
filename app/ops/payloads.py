"""Webhook bodies shaped like Chatwoot's, and how to deliver one to our own `/webhook` signed
and authenticated exactly as Chatwoot would (SPEC §5). Used by `simulate`, `demo` and `doctor`.

The bodies carry what `app.chatwoot.events.parse_event` reads (CHATWOOT.md "Payloads"): a flat
message object with `account`, `conversation` (id, inbox, status, labels, meta.sender), `sender`
and `message_type` as text.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from app.chatwoot.signing import sign
from app.settings import Settings

INBOX = {"id": 1, "name": "ChatwootAI simulator"}


def _conversation(conversation_id: int, status: str, labels: list[str], contact: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": conversation_id,
        "inbox_id": INBOX["id"],
        "status": status,
        "labels": list(labels),
        "channel": "Channel::Api",
        "meta": {"sender": contact, "assignee": None, "team": None},
    }


def message_created(
    *,
    account_id: int,
    conversation_id: int,
    message_id: int,
    content: str,
    sender_type: str = "contact",
    sender_name: str = "Simulated customer",
    sender_id: int = 4242,
    status: str = "pending",
    labels: list[str] | None = None,
    private: bool = False,
    contact_name: str | None = None,
) -> dict[str, Any]:
    """A `message_created` body. `sender_type` "contact" is a customer's incoming message;
    "user" an agent's outgoing one; "agent_bot" the bot's own message coming back."""
    incoming = sender_type == "contact"
    contact = {"id": 4242, "name": contact_name or (sender_name if incoming else "Simulated customer"),
               "type": "contact"}
    return {
        "event": "message_created",
        "id": message_id,
        "content": content,
        "created_at": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "message_type": "incoming" if incoming else "outgoing",
        "content_type": "text",
        "content_attributes": {},
        "additional_attributes": {},
        "private": private,
        "source_id": None,
        "sender": {"id": sender_id, "name": sender_name, "type": sender_type},
        "inbox": dict(INBOX),
        "account": {"id": account_id, "name": "ChatwootAI"},
        "conversation": _conversation(conversation_id, status, labels or [], contact),
        "attachments": [],
    }


def status_changed(*, account_id: int, conversation_id: int, status: str, previous: str,
                   labels: list[str] | None = None) -> dict[str, Any]:
    body = _conversation(conversation_id, status, labels or [], {"id": 4242, "name": "Simulated customer",
                                                                  "type": "contact"})
    body |= {"event": "conversation_status_changed", "account": {"id": account_id, "name": "ChatwootAI"},
             "changed_attributes": [{"status": {"previous_value": previous, "current_value": status}}]}
    return body


def local_base_url(settings: Settings) -> str:
    """Where this machine reaches the web program: a wildcard bind address means loopback."""
    host = settings.webhook_host
    if host in ("0.0.0.0", "", "*"):  # noqa: S104 - compared, not bound
        host = "127.0.0.1"
    elif host == "::":
        host = "[::1]"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{settings.webhook_port}"


def signed_request(settings: Settings, payload: dict[str, Any], *, delivery: str | None = None
                   ) -> tuple[bytes, dict[str, str], dict[str, str]]:
    """(body, headers, query) carrying every credential the appliance checks: the HMAC
    signature with the first configured secret and the token in the query, as Chatwoot's URL
    has it."""
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    headers = {"Content-Type": "application/json", "X-Chatwoot-Delivery": delivery or str(uuid.uuid4()),
               "User-Agent": "chatwootai-ops"}
    if settings.chatwoot_webhook_secrets:
        ts = int(time.time())
        headers["X-Chatwoot-Timestamp"] = str(ts)
        headers["X-Chatwoot-Signature"] = sign(settings.chatwoot_webhook_secrets[0], ts, body)
    query = {"token": settings.webhook_auth_token} if settings.webhook_auth_token else {}
    return body, headers, query


def post_webhook(settings: Settings, payload: dict[str, Any], *, base_url: str | None = None,
                 delivery: str | None = None, timeout: float = 10.0) -> httpx.Response:
    """POST one signed body to `{base_url}/webhook` (default: this machine's web program)."""
    body, headers, query = signed_request(settings, payload, delivery=delivery)
    url = (base_url or local_base_url(settings)).rstrip("/")
    if not urlsplit(url).path.endswith("/webhook"):
        url += "/webhook"
    return httpx.post(url, content=body, headers=headers, params=query, timeout=timeout)


def new_message_id() -> int:
    """Ids far above a real installation's first ones, unlikely to collide with real messages
    (a collision would only make the inbox answer `duplicate`)."""
    return 2_000_000_000 + int(time.time() * 1000) % 1_000_000_000 + uuid.uuid4().int % 1000
