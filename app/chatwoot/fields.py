"""Strict readers of one JSON value each: the field rules every webhook is held to (pure).

A value is either what the event needs or an `EventError` naming the field, so the door can answer
400 with that name. `events.py` composes these into the one definition of a usable event.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

# In `conversation.messages[]` Chatwoot sends message_type as an integer enum.
MESSAGE_TYPES = {0: "incoming", 1: "outgoing", 2: "activity", 3: "template"}

# Ids are stored in SQLite INTEGER columns: signed 64-bit. Chatwoot's ids are positive.
MAX_ID = 2**63 - 1
# Chatwoot's payloads nest about 7 levels. Deeper is refused: a body of ~1000 levels passes orjson
# and then raises RecursionError in any reader that uses the standard json module.
MAX_NESTING = 64


class EventError(ValueError):
    """The payload is JSON but not a Chatwoot event we can use; the text says which field."""


def check_nesting(payload: Any) -> None:
    stack = [(payload, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_NESTING:
            raise EventError(f"nested deeper than {MAX_NESTING} levels")
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))


def an_id(value: Any, name: str, *, required: bool = False, minimum: int = 1) -> int | None:
    """A JSON integer in [minimum, 2**63): not a bool, a float or digits in a string (str.isdigit
    accepts "²" and Arabic-Indic digits, and int() turns some of them into numbers)."""
    if value is None:
        if required:
            raise EventError(f"missing '{name}'")
        return None
    if type(value) is not int or not minimum <= value <= MAX_ID:
        kind = "positive" if minimum == 1 else "non-negative"
        raise EventError(f"'{name}' must be a {kind} integer below 2**63")
    return value


def an_object(value: Any, name: str, *, required: bool = False) -> dict[str, Any]:
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise EventError(f"'{name}' must be an object")
    return value


def a_list(value: Any, name: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise EventError(f"'{name}' must be a list")
    return value


def a_string(value: Any, name: str, *, numbers: bool = False) -> Any:
    if value is None or isinstance(value, str):
        return value
    if numbers and isinstance(value, int | float) and not isinstance(value, bool):
        return value
    raise EventError(f"'{name}' must be a string")


def a_bool(value: Any, name: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise EventError(f"'{name}' must be true or false")
    return value


def message_type(value: Any) -> str:
    if isinstance(value, str) and value:
        return value
    if type(value) is int and value in MESSAGE_TYPES:
        return MESSAGE_TYPES[value]
    if value is None:
        raise EventError("missing 'message_type'")
    raise EventError("'message_type' must be incoming, outgoing, activity, template or 0-3")


def text(value: Any) -> str | None:
    """A validated optional string, with "" read as absent."""
    return value if value else None


def epoch_seconds(value: Any) -> float | None:
    """`created_at` as epoch seconds, None when unreadable: Chatwoot sends ISO text at a webhook's
    top level and epoch seconds inside conversation.messages and its message lists."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except (ValueError, OverflowError, OSError):
            return None
    return None
