"""POST /webhook: verify, parse, decide, store, answer — nothing else happens in the request."""

from __future__ import annotations

import time

import orjson
from loguru import logger
from sanic import Blueprint, Request
from sanic.response import HTTPResponse
from sanic.response import json as json_response

from app.chatwoot.events import EventError, MessageEvent, parse_event
from app.chatwoot.policy import classify
from app.errors import BadRequest, PayloadTooLarge, StorageFailed, StoreError, UnsupportedMediaType
from app.logs import info_line
from app.store.inbox import DUPLICATE, NewEvent

bp = Blueprint("webhook")


@bp.post("/webhook")
async def receive(request: Request) -> HTTPResponse:
    ctx = request.app.ctx
    body = request.body or b""
    if len(body) > ctx.settings.webhook_max_body_bytes:
        raise PayloadTooLarge()
    delivery_id = request.headers.get("x-chatwoot-delivery") or None
    ctx.verifier.verify(body, request.headers, request.args.get("token"))

    if not _is_json(request.headers.get("content-type", "")):
        raise UnsupportedMediaType()
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise BadRequest("body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise BadRequest("body must be a JSON object")
    try:
        event = parse_event(payload)
    except EventError as exc:
        raise BadRequest(f"not a Chatwoot event: {exc}") from None

    verdict = classify(event, ctx.settings.bot_conversation_statuses)
    ids = {"delivery": delivery_id, "event": event.event, "account": event.account_id,
           "conversation": event.conversation_id}
    if not verdict.store:
        ctx.metrics.webhook("ignored")
        info_line(f"webhook ignored: {verdict.reason}", **ids)
        return json_response({"status": "ignored", "reason": verdict.reason})

    is_message = isinstance(event, MessageEvent)
    new = NewEvent(
        kind=event.event,
        payload=body.decode("utf-8"),
        received_at=time.time(),
        answerable=verdict.answer,
        reason=verdict.reason,
        delivery_id=delivery_id,
        # message_updated reuses the message id: only creations are deduplicated on it.
        dedup_key=f"{event.account_id}:{event.message_id}" if event.event == "message_created" else None,
        account_id=event.account_id,
        conversation_id=event.conversation_id,
        message_id=event.message_id if is_message else None,
    )
    try:
        result = await ctx.writer.store(new)
    except StoreError as exc:
        ctx.metrics.webhook("error")
        logger.bind(**ids).error("webhook not stored: {}", exc)
        raise StorageFailed() from None

    if result == DUPLICATE:
        ctx.metrics.webhook("duplicate")
        info_line("webhook duplicate", **ids)
        return json_response({"status": "duplicate"})
    if verdict.answer:
        ctx.metrics.webhook("queued")
        info_line("webhook queued", **ids, message_id=new.message_id)
        # Only answerable messages get here. No bind(): a disabled DEBUG call returns at once.
        logger.debug("content: {}", event.content, **ids)
        return json_response({"status": "queued"})
    ctx.metrics.webhook("ignored")
    info_line(f"webhook stored as context: {verdict.reason}", **ids)
    return json_response({"status": "ignored", "reason": verdict.reason})


def _is_json(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json"))
