"""Webhook authentication (docs/architecture.md#http-interface), failing closed. Pure: no I/O.

Every configured mechanism must pass:
- signature: `X-Chatwoot-Signature: sha256=<hex HMAC-SHA256(secret, "{timestamp}.{raw body}")>`,
  timestamp within ±`tolerance_s`, any configured secret may match (rotation);
- token: `Authorization: Bearer <t>`, `X-Webhook-Token: <t>` or `?token=<t>`.
All comparisons are constant-time; every failure raises one error type with one generic text,
so a caller learns nothing about which check failed (the reason goes to our log only).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Mapping, Sequence

from app.errors import Unauthorized

SIGNATURE_HEADER = "x-chatwoot-signature"
TIMESTAMP_HEADER = "x-chatwoot-timestamp"
TOKEN_HEADER = "x-webhook-token"  # noqa: S105 - a header name, not a secret
DEFAULT_TOLERANCE_S = 300


class VerificationError(Unauthorized):
    """Bad or missing credentials. `reason` is for our logs; the HTTP answer stays generic."""

    def __init__(self, reason: str):
        super().__init__()
        self.reason = reason


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """The header value Chatwoot sends: used by our verifier, the `simulate` CLI and tests."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


class WebhookVerifier:
    def __init__(
        self,
        *,
        secrets: Sequence[str] = (),
        token: str | None = None,
        allow_unauthenticated: bool = False,
        tolerance_s: int = DEFAULT_TOLERANCE_S,
        clock: Callable[[], float] = time.time,
    ):
        if any(not s for s in secrets):
            raise ValueError("an empty webhook secret is not a secret")
        if token == "":
            raise ValueError("an empty webhook token is not a token")
        if not secrets and token is None and not allow_unauthenticated:
            raise ValueError("no webhook authentication configured")
        # The keyed HMAC state of each secret, built once: a request copies it instead of
        # re-deriving the key pads.
        self._keyed = tuple(hmac.new(s.encode(), digestmod=hashlib.sha256) for s in secrets)
        self._token = token.encode() if token is not None else None
        self._tolerance = tolerance_s
        self._clock = clock

    @property
    def mechanisms(self) -> tuple[str, ...]:
        return (("signature",) if self._keyed else ()) + (("token",) if self._token else ())

    def verify(self, body: bytes, headers: Mapping[str, str], query_token: str | None = None) -> None:
        """Raise VerificationError unless every configured mechanism passes.

        `headers` must be case-insensitive or lower-cased (Sanic's are case-insensitive). Values
        may hold any byte a client sent (Sanic decodes them with surrogateescape): a credential
        that is not what we expect is refused like any wrong one, never an error of ours.
        """
        if self._keyed:
            self._verify_signature(body, headers)
        if self._token is not None:
            self._verify_token(headers, query_token)

    def _verify_signature(self, body: bytes, headers: Mapping[str, str]) -> None:
        signature = headers.get(SIGNATURE_HEADER)
        timestamp = headers.get(TIMESTAMP_HEADER)
        if not signature or not timestamp:
            raise VerificationError("signature or timestamp header missing")
        timestamp = timestamp.strip()
        # ASCII digits only: int() also reads other scripts' digits, and 20 digits is past any epoch.
        if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 20):
            raise VerificationError("timestamp is not an integer")
        skew = self._clock() - int(timestamp)
        if skew > self._tolerance:
            raise VerificationError("timestamp too old")
        if skew < -self._tolerance:
            raise VerificationError("timestamp in the future")
        scheme, _, digest = signature.strip().partition("=")
        if scheme != "sha256" or not digest or not digest.isascii():
            raise VerificationError("signature is not sha256=<hex>")
        presented = digest.encode("ascii")
        prefix = timestamp.encode("ascii") + b"."
        # Compare against every secret (no early exit) so timing does not tell which one matched.
        matched = False
        for keyed in self._keyed:
            mac = keyed.copy()
            mac.update(prefix)
            mac.update(body)
            matched |= hmac.compare_digest(mac.hexdigest().encode("ascii"), presented)
        if not matched:
            raise VerificationError("signature mismatch")

    def _verify_token(self, headers: Mapping[str, str], query_token: str | None) -> None:
        assert self._token is not None
        presented: list[str] = []
        authorization = headers.get("authorization", "")
        if authorization[:7].lower() == "bearer ":
            presented.append(authorization[7:].strip())
        if headers.get(TOKEN_HEADER):
            presented.append(headers[TOKEN_HEADER].strip())
        if query_token:
            presented.append(query_token)
        if not presented:
            raise VerificationError("token missing")
        matched = False
        for candidate in presented:
            matched |= hmac.compare_digest(_raw_bytes(candidate), self._token)
        if not matched:
            raise VerificationError("token mismatch")


def _raw_bytes(value: str) -> bytes:
    """The bytes the client sent: header text decoded with surrogateescape encodes back exactly;
    anything that cannot be encoded cannot be our token either."""
    try:
        return value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return b""
