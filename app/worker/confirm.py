"""Did Chatwoot save our message? Reading what it holds after a POST got no clear answer.

Chatwoot's API has no idempotency key and keeps no id of ours: `echo_id` is not stored (the
message builder passes it to the websocket only) and `content_attributes` keeps only the keys
Chatwoot knows (`in_reply_to`, `items`, …). So our message is recognised by what it is and when:
an outgoing message with the same content and the same `private` flag, newer than the attempt.

"Newer than the attempt" rests on Chatwoot's message ids, which grow with every message of the
installation: every message id we already know from before the attempt (the customer's
messages whose webhooks came before the turn was decided, and our own earlier messages) is an
*anchor*. A message newer than the newest anchor can be ours; one that is an anchor, or that
comes before one, cannot. Clocks are only a second guard, with a generous allowance for skew.

- `from_conversation`: GET conversation, which an agent bot token may read. It shows the newest
  non-activity message only, so it settles the question when that message is ours, or is an
  anchor (nothing was saved after it); anything else — someone wrote after us — it cannot settle.
- `from_messages`: GET …/messages (admin token): the latest 20, which settle it when they reach
  back to an anchor or to the conversation's start.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.chatwoot.fields import epoch_seconds

CLOCK_SKEW_S = 120.0  # how far Chatwoot's clock may be from ours without fooling the time guard
LIST_PAGE = 20  # GET …/messages without `before` answers the latest 20

POSTED, ABSENT, UNKNOWN = "posted", "absent", "unknown"


@dataclass(frozen=True)
class Expected:
    """What our message looks like, and what Chatwoot held before we sent it."""

    content: str
    private: bool
    anchors: frozenset[int]  # Chatwoot message ids that existed before the attempt
    since: float  # epoch seconds; the attempt was not earlier (the turn's decision)


def from_conversation(body: Any, expected: Expected) -> tuple[str, dict[str, Any] | None]:
    """(POSTED, message) | (ABSENT, None) | (UNKNOWN, None) from a GET conversation answer."""
    if not isinstance(body, dict):
        return UNKNOWN, None
    newest = body.get("last_non_activity_message")
    if not isinstance(newest, dict):
        # No message but activity ones (ours is not an activity message) — or none at all.
        last = [m for m in body.get("messages") or [] if isinstance(m, dict)]
        return (ABSENT, None) if all(_is_activity(m) for m in last) else (UNKNOWN, None)
    if _matches(newest, expected):
        return POSTED, newest
    if _id(newest) in expected.anchors or _older_than_attempt(newest, expected):
        return ABSENT, None  # the newest message predates the attempt: nothing was saved after it
    return UNKNOWN, None


def from_messages(body: Any, expected: Expected) -> tuple[str, dict[str, Any] | None]:
    """The same question over GET …/messages (`{"meta":…, "payload": [...]}`, oldest first)."""
    payload = body.get("payload") if isinstance(body, dict) else body
    if not isinstance(payload, list):
        return UNKNOWN, None
    messages = sorted((m for m in payload if isinstance(m, dict) and _id(m) is not None), key=_id)
    anchor = max((i for i, m in enumerate(messages) if _id(m) in expected.anchors), default=-1)
    for message in messages[anchor + 1:]:
        if _matches(message, expected):
            return POSTED, message
    covered = (
        anchor >= 0  # the page reaches back to before the attempt
        or len(payload) < LIST_PAGE  # the page is the whole conversation
        or (bool(messages) and _older_than_attempt(messages[0], expected))
    )
    return (ABSENT, None) if covered else (UNKNOWN, None)


def _matches(message: dict[str, Any], expected: Expected) -> bool:
    message_id = _id(message)
    if message_id is None or message_id in expected.anchors:
        return False
    if message.get("message_type") not in (1, "outgoing"):
        return False
    if bool(message.get("private")) != expected.private:
        return False
    if _text(message.get("content")) != _text(expected.content):
        return False
    created = epoch_seconds(message.get("created_at"))
    return created is None or created >= expected.since - CLOCK_SKEW_S


def _older_than_attempt(message: dict[str, Any], expected: Expected) -> bool:
    created = epoch_seconds(message.get("created_at"))
    return created is not None and created < expected.since - CLOCK_SKEW_S


def _is_activity(message: dict[str, Any]) -> bool:
    return message.get("message_type") in (2, "activity")


def _id(message: dict[str, Any]) -> int | None:
    value = message.get("id")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value: Any) -> str:
    # Chatwoot stores the text as sent; line endings and outer blanks are all a proxy may touch.
    return str(value or "").replace("\r\n", "\n").strip()
