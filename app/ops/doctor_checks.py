"""The checks `chatwootai doctor` runs, one function per row (docs/operations.md#cli).

Each returns a `Row`: ok, fail (with the fix to try) or skip (not configured). A check never
raises for what it finds; the texts it builds may name hosts, ids and files, and the runner
redacts every configured secret from them before anything is printed or logged.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any

import httpx

from app.chatwoot import api
from app.client import ChatwootClient, ChatwootRejected, ChatwootUnavailable
from app.ops.payloads import local_base_url
from app.public_url import PUBLIC_URL_FILE, read_public_url
from app.settings import Settings
from app.store import conversations, status
from app.store.db import DatabaseError, connect_readonly

OK, FAIL, SKIP = "ok", "fail", "skip"
HEARTBEAT_STALE_S = 10.0
HTTP_TIMEOUT_S = 5.0


@dataclass
class Row:
    name: str
    status: str
    detail: str
    fix: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "detail": self.detail, "fix": self.fix}


@dataclass
class Context:
    """What one doctor run learns along the way (the ngrok tunnel's URL feeds the round trip)."""

    settings: Settings
    tunnel_url: str | None = None
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def web(self) -> str:
        return local_base_url(self.settings)

    def public_url(self) -> tuple[str | None, str]:
        s = self.settings
        if s.public_url:
            return s.public_url, "PUBLIC_URL"
        recorded = read_public_url(s.data_dir)
        if recorded:
            return recorded, str(s.data_dir / PUBLIC_URL_FILE)
        if self.tunnel_url:
            return self.tunnel_url, "the ngrok tunnel"
        return None, ""


def check_web(ctx: Context) -> Row:
    url = f"{ctx.web}/health"
    try:
        r = httpx.get(url, timeout=HTTP_TIMEOUT_S)
    except httpx.HTTPError as exc:
        ctx.notes["web_down"] = True
        return Row("web /health", FAIL, f"{url}: {type(exc).__name__}",
                   "start the web program: `chatwootai serve` (in the container: `supervisorctl status web`);"
                   " check WEBHOOK_HOST/WEBHOOK_PORT")
    if r.status_code != 200:
        return Row("web /health", FAIL, f"{url}: HTTP {r.status_code}",
                   "something else answers on WEBHOOK_PORT: stop it or change the port")
    return Row("web /health", OK, f"{url}: ok")


def check_ready(ctx: Context) -> Row:
    url = f"{ctx.web}/ready"
    if ctx.notes.get("web_down"):
        return Row("web /ready", FAIL, "not checked: the web program does not answer", "fix the row above first")
    try:
        r = httpx.get(url, timeout=HTTP_TIMEOUT_S)
        body = r.json()
    except (httpx.HTTPError, ValueError) as exc:
        return Row("web /ready", FAIL, f"{url}: {type(exc).__name__}", "start the web program: `chatwootai serve`")
    checks = body.get("checks", {}) if isinstance(body, dict) else {}
    if r.status_code == 200 and body.get("ready") is True:
        return Row("web /ready", OK, "ready: " + ", ".join(sorted(checks)))
    failing = [name for name, detail in checks.items() if _failing(name, detail)]
    return Row("web /ready", FAIL, f"HTTP {r.status_code}: not ready ({', '.join(failing) or 'unknown'})",
               "see the rows below for " + (", ".join(failing) or "the failing check"))


def _failing(name: str, detail: Any) -> bool:
    if name == "worker":
        return not isinstance(detail, dict)
    return isinstance(detail, str) and detail not in ("ok", "not configured") and not detail.startswith(
        "not configured")


def check_worker(ctx: Context) -> Row:
    db = ctx.settings.db_path
    fix = "start the worker: `chatwootai worker` (in the container: `supervisorctl status worker`)"
    if not db.exists():
        return Row("worker heartbeat", FAIL, f"no store at {db}", fix + "; check DATA_DIR")
    try:
        with closing(connect_readonly(db)) as conn:
            beat = conversations.latest_heartbeat(conn)
    except DatabaseError:
        beat = None
    if beat is None:
        return Row("worker heartbeat", FAIL, "no worker has ever run against this store", fix)
    age = time.time() - beat["beat_at"]
    if age > HEARTBEAT_STALE_S:
        return Row("worker heartbeat", FAIL, f"last heartbeat {age:.0f} s ago", fix)
    return Row("worker heartbeat", OK,
               f"{beat['worker']} beat {age:.1f} s ago, {beat['in_flight']} conversation(s) in flight")


def check_knowledge(ctx: Context) -> Row:
    from app.store.knowledge_files import KnowledgeError, parse_knowledge_dir

    directory = ctx.settings.knowledge_dir
    try:
        k = parse_knowledge_dir(directory)
    except KnowledgeError as exc:
        return Row("knowledge", FAIL, f"{directory}: {exc}",
                   "fix that file and line (`chatwootai knowledge check` shows it);"
                   " the worker keeps serving the last good data")
    except OSError as exc:
        return Row("knowledge", FAIL, f"{directory}: {exc.strerror}", "check KNOWLEDGE_DIR and its permissions")
    return Row("knowledge", OK, f"{k.business.name}: {len(k.products)} products, {len(k.faq)} FAQ entries,"
                                f" {len(k.services)} services ({directory})")


def check_llm(ctx: Context) -> Row:
    s = ctx.settings
    if not s.llm_model:
        return Row("LLM", SKIP, "offline responder (LLM_MODEL not set)")
    from app.hub.llm import TurnBudget, build_llm, resolve_model

    route = resolve_model(s)
    where = route.base_url or "the provider's default URL"
    started = time.monotonic()
    try:
        llm = build_llm(s, TurnBudget(1), temperature=0.0, max_tokens=5)
        answer = llm.call("Reply with the single word OK.")
    except Exception as exc:  # noqa: BLE001 - any failure of the model is this row's answer
        return Row("LLM", FAIL, f"{route.model} at {where}: {type(exc).__name__}: {str(exc)[:160]}",
                   "check LLM_MODEL, LLM_BASE_URL and LLM_API_KEY (or unset LLM_MODEL for the offline responder)")
    ms = (time.monotonic() - started) * 1000
    return Row("LLM", OK, f"{route.model} at {where} answered in {ms:.0f} ms ({len(str(answer))} chars)")


def run_async(coro_factory) -> Any:
    async def run() -> Any:
        return await coro_factory()

    return asyncio.run(run())


def chatwoot_client(settings: Settings, key: str) -> ChatwootClient:
    assert settings.chatwoot_base_url
    return ChatwootClient(settings.chatwoot_base_url, key, timeout=HTTP_TIMEOUT_S, max_attempts=1)


def chatwoot_failure(name: str, settings: Settings, exc: Exception, variable: str) -> Row:
    base = settings.chatwoot_base_url
    if isinstance(exc, ChatwootRejected) and exc.status == 401:
        return Row(name, FAIL, f"Chatwoot at {base} refused the token: HTTP 401 {exc.error}",
                   f"{variable} is wrong or revoked: copy it again from Chatwoot"
                   + (" (Settings → Bots → the bot's access token)" if variable == "CHATWOOT_API_KEY"
                      else " (Profile settings → Access token of an administrator)"))
    if isinstance(exc, ChatwootRejected) and exc.status == 404:
        return Row(name, FAIL, f"Chatwoot at {base}: HTTP 404 {exc.error}",
                   "check CHATWOOT_ACCOUNT_ID and that CHATWOOT_BASE_URL points at Chatwoot itself")
    if isinstance(exc, ChatwootRejected):
        return Row(name, FAIL, f"Chatwoot at {base}: HTTP {exc.status} {exc.error}",
                   f"check {variable} and CHATWOOT_ACCOUNT_ID")
    detail = exc.last_error if isinstance(exc, ChatwootUnavailable) else f"{type(exc).__name__}"
    return Row(name, FAIL, f"Chatwoot unreachable at {base}: {detail}",
               "check CHATWOOT_BASE_URL and that Chatwoot is up and reachable from this machine")


def _latest_conversation(settings: Settings) -> int:
    try:
        with closing(connect_readonly(settings.db_path)) as conn:
            conversation = status.latest_conversation_id(conn, settings.chatwoot_account_id)
    except DatabaseError:
        conversation = None
    return int(conversation) if conversation is not None else 1


def check_bot_token(ctx: Context) -> Row:
    s = ctx.settings
    name = "Chatwoot bot token"
    if not s.chatwoot_configured:
        return Row(name, SKIP, "not configured (CHATWOOT_BASE_URL, CHATWOOT_API_KEY, CHATWOOT_ACCOUNT_ID)")
    assert s.chatwoot_api_key and s.chatwoot_account_id
    conversation = _latest_conversation(s)
    request = api.get_conversation(s.chatwoot_account_id, conversation)

    async def go() -> Any:
        async with chatwoot_client(s, s.chatwoot_api_key) as client:
            return await client.send(request)

    try:
        run_async(go)
    except ChatwootRejected as exc:
        if exc.status == 404:  # authenticated, the conversation just does not exist (yet)
            return Row(name, OK, f"accepted by {s.chatwoot_base_url} (account {s.chatwoot_account_id})")
        if exc.status == 401 and "bots" in exc.error:
            # "Access to this endpoint is not authorized for bots": Chatwoot knew the token as a bot's.
            return Row(name, OK, f"recognised as an agent bot's token by {s.chatwoot_base_url}")
        return chatwoot_failure(name, s, exc, "CHATWOOT_API_KEY")
    except Exception as exc:  # noqa: BLE001
        return chatwoot_failure(name, s, exc, "CHATWOOT_API_KEY")
    return Row(name, OK, f"accepted by {s.chatwoot_base_url} (read conversation {conversation}"
                         f" of account {s.chatwoot_account_id})")


def check_admin_token(ctx: Context) -> Row:
    s = ctx.settings
    name = "Chatwoot admin token"
    if not s.chatwoot_base_url or not s.chatwoot_admin_api_key:
        return Row(name, SKIP, "not configured (CHATWOOT_ADMIN_API_KEY; registration uses the API key)")

    async def go() -> Any:
        async with chatwoot_client(s, s.chatwoot_admin_api_key) as client:
            return await client.send(api.get_profile())

    try:
        profile = run_async(go)
    except Exception as exc:  # noqa: BLE001
        return chatwoot_failure(name, s, exc, "CHATWOOT_ADMIN_API_KEY")
    accounts = {a.get("id"): a for a in profile.get("accounts", []) if isinstance(a, dict)}
    who = profile.get("name") or profile.get("email") or "a user"
    account = accounts.get(s.chatwoot_account_id)
    if s.chatwoot_account_id and account is None:
        return Row(name, FAIL, f"token of {who}, who is not a member of account {s.chatwoot_account_id}",
                   "use an administrator's token of that account, or fix CHATWOOT_ACCOUNT_ID")
    role = (account or {}).get("role") or profile.get("role") or "unknown role"
    if role != "administrator":
        return Row(name, FAIL, f"token of {who} ({role})", "registration needs an administrator's access token")
    return Row(name, OK, f"token of {who}, administrator of account {s.chatwoot_account_id}")
