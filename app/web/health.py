"""GET /health (liveness) and GET /ready (readiness with one check per dependency)."""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import urlsplit

from sanic import Blueprint, Request
from sanic.response import HTTPResponse
from sanic.response import json as json_response

from app.public_url import read_public_url
from app.store import conversations, status
from app.store.db import Connection, DatabaseError, OperationalError

bp = Blueprint("health")

# Each readiness check: (name, function(app ctx) -> (ok, detail)). Components register theirs
# in create_app; a check that is not configured reports so and does not fail readiness.
ReadyCheck = Callable[[object], tuple[bool, object]]
WORKER_STALE_S = 10.0
# A worker that beats but has finished nothing for this long while work it could take waits is
# stalled (longer than any one turn may take: LLM_TIMEOUT_S plus sending).
WORKER_STALL_S = 120.0
PROBE_EVERY_S = 1.0


@bp.get("/health")
async def health(request: Request) -> HTTPResponse:
    return json_response({"status": "ok"})


@bp.get("/ready")
async def ready(request: Request) -> HTTPResponse:
    ctx = request.app.ctx
    checks: dict[str, object] = {}
    all_ok = True
    for name, check in ctx.ready_checks:
        try:
            ok, detail = check(ctx)
        except Exception as exc:  # noqa: BLE001 - a failing check is a readiness answer, not a crash
            ok, detail = False, f"error: {type(exc).__name__}"
        checks[name] = detail
        all_ok = all_ok and ok
    return json_response({"ready": all_ok, "checks": checks}, status=200 if all_ok else 503)


def inbox_check(ctx) -> tuple[bool, object]:
    writer = ctx.writer
    if not writer.running:
        return False, "writer not running"
    if writer.cannot_write:
        # The last commit failed (a full disk): try a write now and then, so /ready recovers
        # even when no webhook arrives to prove the store writes again.
        if time.time() - (writer.write_failed_at or 0.0) < PROBE_EVERY_S or not writer.probe():
            return False, {"status": "cannot write", "error": writer.write_error}
    try:
        status.probe_inbox(ctx.read_db())
    except DatabaseError as exc:
        return False, f"error: {exc}"
    return True, "ok"


def tunnel_check(ctx) -> tuple[bool, object]:
    settings = ctx.settings
    return True, {"public_url": settings.public_url or read_public_url(settings.data_dir)}


def worker_check(ctx) -> tuple[bool, object]:
    """Ready when a worker beat within WORKER_STALE_S: the inbox is being drained."""
    try:
        row = conversations.latest_heartbeat(ctx.read_db())
    except OperationalError:
        row = None  # the worker never ran against this store: its tables do not exist yet
    if row is None:
        return False, "no heartbeat (is `chatwootai worker` running?)"
    now = time.time()
    age = now - row["beat_at"]
    if age > WORKER_STALE_S:
        return False, f"stale: last heartbeat {age:.0f} s ago"
    detail: dict[str, object] = {"status": "ok", "heartbeat_age_s": round(age, 1), "in_flight": row["in_flight"]}
    detail.update(_failing_conversations(ctx.read_db()))
    progress_at = row["progress_at"] if "progress_at" in row.keys() else None
    if progress_at is not None and now - progress_at > WORKER_STALL_S:
        detail.update(status="stalled", no_progress_s=round(now - progress_at))
        return False, detail
    return True, detail


def _failing_conversations(db: Connection) -> dict[str, object]:
    """Conversations whose last turn failed (they are retried, then dead-lettered): shown, not
    a reason to be unready — the others are answered meanwhile."""
    try:
        rows = status.recently_failing(db, 5)
        total = status.failing_count(db)
    except OperationalError:
        return {}  # a store from before failures were recorded
    if not total:
        return {"failing_conversations": 0}
    return {
        "failing_conversations": total,
        "failing": [
            {"conversation": f"{r['account_id']}/{r['conversation_id']}", "failures": r["failures"],
             "error": (r["last_error"] or "")[:200]}
            for r in rows
        ],
    }


def chatwoot_check(ctx) -> tuple[bool, object]:
    """What the worker's last requests to Chatwoot did. Informational: a Chatwoot outage does not
    make the appliance unready — webhooks are still accepted and replies wait in the outbox."""
    if not ctx.settings.chatwoot_configured:
        return True, "not configured"
    try:
        db = ctx.read_db()
        sent = status.last_sent_at(db)
        failing = status.last_send_error(db)
    except OperationalError:
        return True, {"status": "no requests yet"}
    if failing is not None:
        return True, {"status": "failing", "last_error": failing}
    if sent is None:
        return True, {"status": "no requests yet"}
    return True, {"status": "ok", "last_sent_age_s": round(time.time() - sent, 1)}


def llm_check(ctx) -> tuple[bool, object]:
    settings = ctx.settings
    if not settings.llm_model:
        return True, "not configured (offline responder)"
    base = settings.llm_base_url
    if base:
        parts = urlsplit(base)  # never show credentials someone put in the URL
        base = f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "") + parts.path
    return True, {"model": settings.llm_model, "base_url": base or "provider default"}


def knowledge_check(ctx) -> tuple[bool, object]:
    """The worker's last look at KNOWLEDGE_DIR: 503 while an edit is broken (the previous data
    keeps serving, and the error says which file and line to fix)."""
    from app.store.knowledge import knowledge_status

    status = knowledge_status(ctx.read_db())
    if status is None:
        return True, "not loaded yet (the worker loads it at start)"
    counts = {"products": status.get("products", 0), "faq": status.get("faq", 0)}
    if status["ok"]:
        return True, {"status": "ok", **counts}
    serving = "previous data" if counts["products"] or counts["faq"] else "nothing"
    return False, {"status": "error", "errors": status["errors"], "serving": serving, **counts}
