"""One hierarchy. Client-facing errors carry their HTTP status and a generic message that never
echoes a secret or a body."""

from __future__ import annotations


class ChatwootAIError(Exception):
    """Base of every error the appliance raises on purpose."""


class ConfigError(ChatwootAIError):
    """A bad or missing setting; the message names the variable. The CLI exits 2 on it."""


class StoreError(ChatwootAIError):
    """The durable store could not do what was asked (disk full, locked too long, corrupt)."""


class HTTPError(ChatwootAIError):
    """An error answered to a webhook caller: `status` and a short generic `message`."""

    status = 500
    message = "internal error"
    quiet = False  # expected 4xx are logged at INFO, not as errors

    def __init__(self, message: str | None = None):
        super().__init__(message or self.message)
        if message:
            self.message = message


class Unauthorized(HTTPError):
    status, message, quiet = 401, "unauthorized", True


class BadRequest(HTTPError):
    status, message, quiet = 400, "body must be a JSON object", True


class PayloadTooLarge(HTTPError):
    status, message, quiet = 413, "body too large", True


class UnsupportedMediaType(HTTPError):
    status, message, quiet = 415, "content type must be application/json", True


class StorageFailed(HTTPError):
    status, message = 500, "event could not be stored"
