"""POST /webhook: verify, validate, decide, store, answer — nothing else happens in the request.

The hot path does the least that keeps every guarantee: the signature and token are checked on
the raw bytes, the body is parsed once with orjson and validated by `read_envelope` (the same
rules the worker's `parse_event` applies, without building the typed event), the row is stored
durably by the group-commit writer before the 200, and each webhook's INFO line is written by
the writer's commit, one write per batch. Answers are pre-rendered bytes.
"""

from __future__ import annotations

import time

import orjson
from loguru import logger
from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from app.chatwoot.events import Envelope, EventError, read_envelope
from app.chatwoot.policy import classify
from app.errors import BadRequest, PayloadTooLarge, StorageFailed, StoreError, UnsupportedMediaType
from app.logs import info_line, info_lines
from app.store.inbox import DUPLICATE, QUEUED, NewEvent

bp = Blueprint("webhook")

# A body over the limit is read to its end and thrown away, so the client gets its 413 on a
# connection that stays usable, instead of a reset while it is still sending. Past this much, the
# connection is closed: Sanic's REQUEST_MAX_SIZE is set to it (app.py).
DRAIN_MAX_BYTES = 256 * 1024 * 1024

_QUEUED_BODY = b'{"status":"queued"}'
_DUPLICATE_BODY = b'{"status":"duplicate"}'


def answer(body: bytes, status: int = 200) -> HTTPResponse:
    return HTTPResponse(body, status=status, content_type="application/json")


@bp.post("/webhook", stream=True)
async def receive(request: Request) -> HTTPResponse:
    ctx = request.app.ctx
    body = await read_body(request, ctx.settings.webhook_max_body_bytes)
    headers = request.headers
    ctx.verifier.verify(body, headers, _query_token(request))

    if not _is_json(headers.get("content-type", "")):
        raise UnsupportedMediaType()
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise BadRequest("body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise BadRequest("body must be a JSON object")
    try:
        envelope = read_envelope(payload, body)
    except EventError as exc:
        raise BadRequest(f"not a Chatwoot event: {exc}") from None

    verdict = classify(envelope, ctx.settings.bot_conversation_statuses)
    delivery_id = headers.get("x-chatwoot-delivery") or None
    if not verdict.store:
        ctx.metrics.webhook("ignored")
        info_line(f"webhook ignored: {verdict.reason}", **_ids(delivery_id, envelope))
        return answer(orjson.dumps({"status": "ignored", "reason": verdict.reason}))

    event, account_id, message_id = envelope.event, envelope.account_id, envelope.message_id
    # Positional, in NewEvent's field order (kind, payload, received_at, answerable, reason,
    # delivery_id, dedup_key, account_id, conversation_id, message_id): keywords cost a dict here.
    new = NewEvent(
        event,
        body.decode("utf-8"),  # orjson accepted it: valid UTF-8
        time.time(),
        verdict.answer,
        verdict.reason,
        delivery_id,
        # message_updated reuses the message id: only creations are deduplicated on it.
        f"{account_id}:{message_id}" if event == "message_created" else None,
        account_id,
        envelope.conversation_id,
        message_id,
    )
    try:
        result = await ctx.writer.store(new)
    except StoreError as exc:
        ctx.metrics.webhook("error")
        logger.bind(**_ids(delivery_id, envelope)).error("webhook not stored: {}", exc)
        raise StorageFailed() from None

    if result == DUPLICATE:
        return answer(_DUPLICATE_BODY)
    if verdict.answer:
        if ctx.log_content:
            # Message text only at DEBUG (docs/operations.md#logs: ids, not what customers write).
            logger.debug("content: {}", payload.get("content"), **_ids(delivery_id, envelope))
        return answer(_QUEUED_BODY)
    return answer(orjson.dumps({"status": "ignored", "reason": verdict.reason}))


def log_commit(metrics, batch, results) -> None:
    """The writer's commit hook: one INFO line per webhook of the batch, written in one go before
    any of their answers is sent, and the result counters."""
    lines = []
    for (event, _), result in zip(batch, results, strict=True):
        if result == QUEUED:
            outcome = "queued" if event.answerable else "ignored"
            message = "webhook queued" if event.answerable else f"webhook stored as context: {event.reason}"
        elif result == DUPLICATE:
            outcome, message = "duplicate", "webhook duplicate"
        else:
            continue  # a row that failed is logged at ERROR by its own request
        metrics.webhook(outcome)
        lines.append((message, {"delivery": event.delivery_id, "event": event.kind, "account": event.account_id,
                                "conversation": event.conversation_id, "message_id": event.message_id}))
    info_lines(lines)


async def read_body(request: Request, limit: int) -> bytes:
    """The body, at most `limit` bytes; over it, the rest is drained and 413 is raised."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        if int(declared) <= DRAIN_MAX_BYTES:
            await _drain(request, 0)
        raise PayloadTooLarge()
    chunks = []
    size = 0
    async for chunk in request.stream:
        size += len(chunk)
        if size > limit:  # chunked, or a Content-Length that lied
            await _drain(request, size)
            raise PayloadTooLarge()
        chunks.append(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def _drain(request: Request, already: int) -> None:
    drained = already
    async for chunk in request.stream:
        drained += len(chunk)
        if drained > DRAIN_MAX_BYTES:
            return  # Sanic closes the connection over REQUEST_MAX_SIZE


def _query_token(request: Request) -> str | None:
    query = request.query_string
    if not query:
        return None
    # What Chatwoot sends, "token=<t>" alone with nothing to decode, without a parse per request.
    if query.startswith("token=") and not any(c in query for c in "&%+;"):
        return query[6:] or None
    return request.args.get("token")


def _ids(delivery_id: str | None, envelope: Envelope) -> dict[str, object]:
    return {"delivery": delivery_id, "event": envelope.event, "account": envelope.account_id,
            "conversation": envelope.conversation_id}


def _is_json(content_type: str) -> bool:
    if content_type == "application/json":  # what Chatwoot sends: no parsing needed
        return True
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json"))
