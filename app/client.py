"""The one httpx adapter to Chatwoot: sends `app.chatwoot.api.Request`s, retries what is worth
retrying, and reports the rest as one of two errors.

- 2xx: the response JSON (`{}` when the body is empty).
- 429: retried after `Retry-After` (seconds or an HTTP date), capped at `backoff_max`.
- 5xx, network errors, timeouts: retried with exponential backoff and full jitter.
- Any other status: `ChatwootRejected` at once; retrying cannot fix a bad request, so the
  caller dead-letters it.
- Retries exhausted: `ChatwootUnavailable`.

Error texts carry the status, the call's purpose and path and Chatwoot's short error text; never
the access token and never the request body (which is customer text).

At most once: a 5xx, a timeout or a dropped connection after Chatwoot got a POST is ambiguous —
a proxy's 502/504 can come after Chatwoot saved the message — and Chatwoot's API has no
idempotency key. So a request that is not idempotent (`Request.idempotent`, the one rule) is
never repeated blindly after such an outcome: the caller's `confirm` looks at what Chatwoot
holds first. It returns what it found (the request took effect: done), None (it did not: sending
again cannot duplicate it, so the retry goes ahead) or raises `DeliveryUnknown` (cannot tell:
`ChatwootUnavailable` with `maybe_sent`). Without `confirm`, the first ambiguous outcome is
`ChatwootUnavailable` with `maybe_sent`.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections.abc import Awaitable, Callable
from datetime import UTC
from typing import Any

import httpx

from app.chatwoot.api import API_PREFIX, Request
from app.errors import ChatwootAIError

USER_AGENT = "chatwootai/0.1"
# Failures that happen before Chatwoot could have seen the request: always safe to retry.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_MAX_ERROR_TEXT = 200


class ChatwootRejected(ChatwootAIError):
    """Chatwoot refused the request (4xx other than 429); not retried."""

    def __init__(self, status: int, error: str, request: Request):
        self.status = status
        self.error = error
        self.purpose = request.purpose
        super().__init__(f"Chatwoot rejected {request.describe()}: HTTP {status}: {error}")


class ChatwootUnavailable(ChatwootAIError):
    """Chatwoot did not answer usefully within `attempts` tries (429, 5xx, network, timeouts)."""

    def __init__(self, attempts: int, last_error: str, request: Request, status: int | None = None,
                 *, maybe_sent: bool = False, look_again: bool = False):
        self.attempts = attempts
        self.last_error = last_error
        self.status = status  # the last HTTP status, None when the last try got no answer
        self.purpose = request.purpose
        # The request reached Chatwoot, the outcome was ambiguous and nothing settled it: it may
        # have taken effect. Sending something that is not idempotent again could do it twice.
        self.maybe_sent = maybe_sent
        # ...and Chatwoot could not be read to settle it: a later look may (see DeliveryUnknown).
        self.look_again = look_again
        super().__init__(
            f"Chatwoot unavailable for {request.describe()} after {attempts} attempts: {last_error}"
        )


class DeliveryUnknown(ChatwootAIError):
    """Raised by a `confirm` callback: Chatwoot's state does not say whether the request took effect.

    `look_again`: Chatwoot could not be read just now, so looking again later may settle it;
    otherwise what it shows cannot settle it (an operator has to look)."""

    def __init__(self, reason: str, *, look_again: bool = False):
        self.look_again = look_again
        super().__init__(reason)


Confirm = Callable[[], Awaitable[dict[str, Any] | None]]


def normalise_base_url(base_url: str) -> str:
    """`https://chat.example.com`, `…/` and `…/api/v1` all mean the same server."""
    url = base_url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ValueError("Chatwoot base URL must start with http:// or https://")
    if url.endswith(API_PREFIX):
        url = url[: -len(API_PREFIX)].rstrip("/")
    return url


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta seconds or HTTP date); None if unusable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # HTTP dates are GMT by definition
        when = when.replace(tzinfo=UTC)
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


class ChatwootClient:
    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 10.0,
        max_attempts: int = 5,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        on_retry: Callable[[Request, int, str], None] | None = None,
        rng: random.Random | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        settle_grace_s: float = 1.0,
    ):
        if not api_key:
            raise ValueError("a Chatwoot API key is required")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.base_url = normalise_base_url(base_url)
        self._api_key = api_key
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self._sleep = sleep
        self._on_retry = on_retry
        # The least wait before looking whether an ambiguous request took effect: a Chatwoot
        # still saving behind a proxy that already answered 504 gets that long to finish.
        self.settle_grace_s = settle_grace_s
        self._rng = rng or random.Random()
        # Connecting should be quick even when Chatwoot is slow to answer; the pool wait is
        # bounded so a burst cannot queue forever behind a stuck connection.
        timeouts = httpx.Timeout(connect=min(timeout, 5.0), read=timeout, write=timeout, pool=timeout)
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=timeouts,
            headers={"api_access_token": api_key, "Accept": "application/json", "User-Agent": USER_AGENT},
            follow_redirects=False,  # a redirect would drop to GET or leak the token elsewhere
            transport=transport,
        )

    async def __aenter__(self) -> ChatwootClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def send(self, request: Request, *, confirm: Confirm | None = None) -> dict[str, Any] | list[Any]:
        """Send with retries; the response JSON, `{}` when Chatwoot answers with no body.

        `confirm` settles ambiguous outcomes of a request that is not idempotent (module doc)."""
        last_error, last_status = "", None
        unsettled = 0  # the attempt whose ambiguous outcome must be settled before sending again
        for attempt in range(1, self.max_attempts + 1):
            if unsettled:
                # Looked at only now, after the backoff: a save still in progress has had time to
                # land, and what was seen is what holds when the request goes out again.
                found = await self._settle(request, unsettled, last_error, last_status, confirm)
                if found is not None:
                    return found  # it took effect after all: done, and not sent again
                unsettled = 0
            delay: float | None = None
            ambiguous = False
            try:
                response = await self._http.request(request.method, request.path, json=request.json)
            except httpx.TimeoutException as exc:
                last_error, last_status = f"timeout ({type(exc).__name__})", None
                ambiguous = not isinstance(exc, _NOT_SENT)
            except httpx.TransportError as exc:
                last_error, last_status = f"network error ({type(exc).__name__}: {self._scrub(exc)})", None
                ambiguous = not isinstance(exc, _NOT_SENT)
            else:
                status = response.status_code
                if 200 <= status < 300:
                    return _json_or_empty(response)
                error = self._error_text(response)
                if status == 429:  # refused before any work: always safe to send again
                    last_error, last_status = f"HTTP 429: {error}", status
                    delay = parse_retry_after(response.headers.get("Retry-After"))
                elif status >= 500:
                    last_error, last_status = f"HTTP {status}: {error}", status
                    ambiguous = True  # a proxy's 502/504 can come after Chatwoot did the work
                else:
                    raise ChatwootRejected(status, error, request)
            if ambiguous and not request.idempotent:
                if confirm is None:
                    raise ChatwootUnavailable(attempt, last_error, request, last_status, maybe_sent=True)
                unsettled = attempt
            if delay is None:
                delay = max(self._backoff(attempt), self.settle_grace_s if unsettled else 0.0)
            delay = min(delay, self.backoff_max)
            if attempt == self.max_attempts and not unsettled:
                break
            if self._on_retry is not None and attempt < self.max_attempts:
                self._on_retry(request, attempt, last_error)
            await self._sleep(delay)
        if unsettled:  # the last attempt was ambiguous too: settle it before giving up
            found = await self._settle(request, unsettled, last_error, last_status, confirm)
            if found is not None:
                return found
        raise ChatwootUnavailable(self.max_attempts, last_error, request, last_status)

    async def _settle(self, request: Request, attempt: int, last_error: str, last_status: int | None,
                      confirm: Confirm | None) -> dict[str, Any] | None:
        """After an ambiguous outcome: what Chatwoot holds (found), None (not there), or raise."""
        if confirm is None:
            raise ChatwootUnavailable(attempt, last_error, request, last_status, maybe_sent=True)
        try:
            return await confirm()
        except DeliveryUnknown as exc:
            raise ChatwootUnavailable(attempt, f"{last_error}; {self._scrub(exc)}", request, last_status,
                                      maybe_sent=True, look_again=exc.look_again) from None

    def _backoff(self, attempt: int) -> float:
        # Full jitter (AWS architecture blog): spreads retries of many workers apart.
        ceiling = min(self.backoff_max, self.backoff_base * (2 ** (attempt - 1)))
        return self._rng.uniform(0, ceiling)

    def _error_text(self, response: httpx.Response) -> str:
        """Chatwoot's short error text: `error`, `message`, `errors` or `description`."""
        text = ""
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            for key in ("error", "message", "errors", "description"):
                value = body.get(key)
                if value:
                    text = value if isinstance(value, str) else "; ".join(map(str, _as_list(value)))
                    break
        if not text:
            text = response.reason_phrase or "error"
        return self._scrub(text)[:_MAX_ERROR_TEXT]

    def _scrub(self, value: object) -> str:
        # Belt and braces: nothing we build contains the token, but an echoing proxy might.
        return str(value).replace(self._api_key, "***")


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _json_or_empty(response: httpx.Response) -> dict[str, Any] | list[Any]:
    if not response.content.strip():
        return {}
    try:
        data = response.json()
    except ValueError:
        return {}  # toggle_typing_status answers `head :ok`; some proxies add a text body
    return data if isinstance(data, dict | list) else {}


def send_sync(base_url: str, api_key: str, request: Request, **kwargs: Any) -> dict[str, Any] | list[Any]:
    """One request from synchronous code (the CLI's `doctor` and `register --once`)."""

    async def _run() -> dict[str, Any] | list[Any]:
        async with ChatwootClient(base_url, api_key, **kwargs) as client:
            return await client.send(request)

    return asyncio.run(_run())
