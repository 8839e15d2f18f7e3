"""The web program: a Sanic app factory. Resources live on app.ctx, opened before the server
starts and closed after it stops."""

from __future__ import annotations

import itertools

from loguru import logger
from sanic import Request, Sanic
from sanic.exceptions import NotFound, SanicException
from sanic.exceptions import PayloadTooLarge as SanicPayloadTooLarge
from sanic.response import HTTPResponse
from sanic.response import json as json_response

from app.chatwoot.signing import VerificationError, WebhookVerifier
from app.errors import HTTPError
from app.settings import Settings
from app.store.db import PerThreadConnection
from app.store.inbox import GroupCommitWriter
from app.web import health, metrics, webhook

_names = itertools.count()

_RESULT_BY_STATUS = {400: "bad_request", 401: "unauthorized", 413: "too_large", 415: "bad_request"}


def create_app(settings: Settings, *, name: str | None = None) -> Sanic:
    app = Sanic(name or f"chatwootai_{next(_names)}")
    app.config.FALLBACK_ERROR_FORMAT = "json"
    # Let a little more than the limit through Sanic so our own 413 (JSON, counted) answers it.
    app.config.REQUEST_MAX_SIZE = settings.webhook_max_body_bytes + 1
    app.config.KEEP_ALIVE_TIMEOUT = 75  # Chatwoot and proxies reuse connections
    app.config.MOTD = False

    ctx = app.ctx
    ctx.settings = settings
    ctx.verifier = WebhookVerifier(
        secrets=settings.chatwoot_webhook_secrets,
        token=settings.webhook_auth_token,
        allow_unauthenticated=settings.webhook_allow_unauthenticated,
    )
    ctx.metrics = metrics.WebMetrics()
    ctx.writer = GroupCommitWriter(settings.db_path)
    # Readiness and metrics read on the loop thread; WAL readers never block the writer.
    reader = PerThreadConnection(settings.db_path)
    ctx.read_db = reader.get
    ctx.metrics.add_store_collector([metrics.inbox_metrics, metrics.worker_metrics], reader.get)
    ctx.ready_checks = [
        ("inbox", health.inbox_check),
        ("worker", health.worker_check),
        ("chatwoot", health.chatwoot_check),
        ("llm", health.llm_check),
        ("tunnel", health.tunnel_check),
        ("knowledge", health.knowledge_check),
    ]

    app.blueprint(webhook.bp)
    app.blueprint(health.bp)
    app.blueprint(metrics.bp)

    @app.before_server_start
    async def open_store(app: Sanic) -> None:
        await app.ctx.writer.start()  # opens and migrates the store: no request pays for it
        logger.info(
            "web listening on {}:{} (auth: {})",
            settings.webhook_host,
            settings.webhook_port,
            ", ".join(app.ctx.verifier.mechanisms) or "NONE",
        )

    @app.after_server_stop
    async def close_store(app: Sanic) -> None:
        await app.ctx.writer.stop()
        reader.close()
        logger.info("web stopped")

    @app.exception(HTTPError)
    async def client_error(request: Request, exc: HTTPError) -> HTTPResponse:
        ctx.metrics.webhook(_RESULT_BY_STATUS.get(exc.status, "error"))
        detail = exc.reason if isinstance(exc, VerificationError) else exc.message
        log = logger.bind(delivery=request.headers.get("x-chatwoot-delivery"))
        if exc.quiet:
            log.info("webhook rejected {}: {}", exc.status, detail)
        else:
            log.error("webhook failed {}: {}", exc.status, detail)
        return json_response({"error": exc.message}, status=exc.status)

    @app.exception(SanicPayloadTooLarge)
    async def too_large(request: Request, exc: SanicException) -> HTTPResponse:
        ctx.metrics.webhook("too_large")
        logger.info("webhook rejected 413: body over {} bytes", settings.webhook_max_body_bytes)
        return json_response({"error": "body too large"}, status=413)

    @app.exception(NotFound)
    async def not_found(request: Request, exc: SanicException) -> HTTPResponse:
        return json_response({"error": "not found"}, status=404)

    return app
