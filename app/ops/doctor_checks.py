"""The checks `chatwootai doctor` runs, one function per row (SPEC §11).

Each returns a `Row`: ok, fail (with the fix to try) or skip (not configured). A check never
raises for what it finds; the texts it builds may name hosts, ids and files, and the runner
redacts every configured secret from them before anything is printed or logged.
"""

from __future__ import annotations

import asyncio
import importlib
import shutil
import sqlite3
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from app.chatwoot import api
from app.client import ChatwootClient, ChatwootRejected, ChatwootUnavailable
from app.ops.payloads import local_base_url, post_webhook
from app.settings import Settings

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
        path = s.data_dir / "public_url"
        if path.is_file():
            url = path.read_text(encoding="utf-8").strip()
            if url:
                return url, str(path)
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
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            row = conn.execute("SELECT worker, beat_at, in_flight FROM heartbeats ORDER BY beat_at DESC LIMIT 1"
                               ).fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        row = None
    if row is None:
        return Row("worker heartbeat", FAIL, "no worker has ever run against this store", fix)
    age = time.time() - row[1]
    if age > HEARTBEAT_STALE_S:
        return Row("worker heartbeat", FAIL, f"last heartbeat {age:.0f} s ago", fix)
    return Row("worker heartbeat", OK, f"{row[0]} beat {age:.1f} s ago, {row[2]} conversation(s) in flight")


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


def _chatwoot(coro_factory) -> Any:
    async def run() -> Any:
        return await coro_factory()

    return asyncio.run(run())


def _client(settings: Settings, key: str) -> ChatwootClient:
    assert settings.chatwoot_base_url
    return ChatwootClient(settings.chatwoot_base_url, key, timeout=HTTP_TIMEOUT_S, max_attempts=1)


def _chatwoot_failure(name: str, settings: Settings, exc: Exception, variable: str) -> Row:
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
        conn = sqlite3.connect(f"file:{settings.db_path}?mode=ro", uri=True, timeout=5)
        try:
            row = conn.execute("SELECT conversation_id FROM events WHERE conversation_id IS NOT NULL"
                               " AND account_id = ? ORDER BY id DESC LIMIT 1",
                               (settings.chatwoot_account_id,)).fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        row = None
    return int(row[0]) if row else 1


def check_bot_token(ctx: Context) -> Row:
    s = ctx.settings
    name = "Chatwoot bot token"
    if not s.chatwoot_configured:
        return Row(name, SKIP, "not configured (CHATWOOT_BASE_URL, CHATWOOT_API_KEY, CHATWOOT_ACCOUNT_ID)")
    assert s.chatwoot_api_key and s.chatwoot_account_id
    conversation = _latest_conversation(s)
    request = api.get_conversation(s.chatwoot_account_id, conversation)

    async def go() -> Any:
        async with _client(s, s.chatwoot_api_key) as client:
            return await client.send(request)

    try:
        _chatwoot(go)
    except ChatwootRejected as exc:
        if exc.status == 404:  # authenticated, the conversation just does not exist (yet)
            return Row(name, OK, f"accepted by {s.chatwoot_base_url} (account {s.chatwoot_account_id})")
        return _chatwoot_failure(name, s, exc, "CHATWOOT_API_KEY")
    except Exception as exc:  # noqa: BLE001
        return _chatwoot_failure(name, s, exc, "CHATWOOT_API_KEY")
    return Row(name, OK, f"accepted by {s.chatwoot_base_url} (read conversation {conversation}"
                         f" of account {s.chatwoot_account_id})")


def check_admin_token(ctx: Context) -> Row:
    s = ctx.settings
    name = "Chatwoot admin token"
    if not s.chatwoot_base_url or not s.chatwoot_admin_api_key:
        return Row(name, SKIP, "not configured (CHATWOOT_ADMIN_API_KEY; registration uses the API key)")

    async def go() -> Any:
        async with _client(s, s.chatwoot_admin_api_key) as client:
            return await client.send(api.get_profile())

    try:
        profile = _chatwoot(go)
    except Exception as exc:  # noqa: BLE001
        return _chatwoot_failure(name, s, exc, "CHATWOOT_ADMIN_API_KEY")
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


def check_registration(ctx: Context) -> Row:
    """The URL Chatwoot calls equals `{public URL}/webhook?token=…` (what `register` sets)."""
    s = ctx.settings
    name = "registered URL"
    try:
        register = importlib.import_module("app.register")
        current = register.current_registration
    except (ImportError, AttributeError):
        return Row(name, SKIP, "not configured (this version has no `chatwootai register`)")
    why = register.not_applicable(s) if hasattr(register, "not_applicable") else None
    if why or s.register_mode == "off":
        return Row(name, SKIP, f"not configured ({why or 'REGISTER_MODE=off'})")
    public, source = ctx.public_url()
    if not public:
        return Row(name, SKIP, "not configured (no public URL yet: PUBLIC_URL or the ngrok tunnel)")
    if hasattr(register, "webhook_url"):
        expected = register.webhook_url(public, s.webhook_auth_token)
    else:
        expected = public.rstrip("/") + "/webhook"
    key = s.chatwoot_admin_api_key or s.chatwoot_api_key
    if not s.chatwoot_base_url or not key:
        return Row(name, SKIP, "not configured (Chatwoot is not configured)")

    async def go() -> Any:
        async with _client(s, key) as client:
            return await current(s, client)

    try:
        registered = _chatwoot(go)
    except Exception as exc:  # noqa: BLE001
        return _chatwoot_failure(name, s, exc, "CHATWOOT_ADMIN_API_KEY")
    fix = "run `chatwootai register --once` (the register program does it by itself when it runs)"
    if not registered:
        return Row(name, FAIL, f"Chatwoot has no URL registered for this appliance ({s.register_mode})", fix)
    if registered != expected:
        if _origin(registered) == _origin(expected):
            return Row(name, FAIL, f"Chatwoot calls {_origin(registered)} with another webhook token", fix)
        return Row(name, FAIL, f"Chatwoot calls {_origin(registered)}, the public URL is {public} ({source})", fix)
    return Row(name, OK, f"Chatwoot calls {_origin(expected)} ({s.register_mode})")


def _origin(url: str) -> str:
    """A registered URL without its query (which holds the webhook token)."""
    return url.split("?", 1)[0]


def check_ngrok(ctx: Context) -> Row:
    s = ctx.settings
    name = "ngrok tunnel"
    if not s.ngrok_auth_token:
        return Row(name, SKIP, "not configured (NGROK_AUTH_TOKEN not set" + (", PUBLIC_URL used)" if s.public_url
                                                                              else ")"))
    url = f"{s.ngrok_api_url}/api/tunnels"
    fix = "the ngrok agent is not running: in the container `supervisorctl status ngrok`; check NGROK_AUTH_TOKEN"
    try:
        tunnels = httpx.get(url, timeout=HTTP_TIMEOUT_S).json().get("tunnels", [])
    except (httpx.HTTPError, ValueError, AttributeError) as exc:
        return Row(name, FAIL, f"agent API {url}: {type(exc).__name__}", fix)
    port = str(s.webhook_port)
    ours = [t for t in tunnels if isinstance(t, dict)
            and str((t.get("config") or {}).get("addr", "")).rstrip("/").endswith(f":{port}")
            or str((t.get("config") or {}).get("addr", "")) == port]
    https = [t for t in ours if str(t.get("public_url", "")).startswith("https://")]
    if not https:
        seen = ", ".join(str(t.get("public_url")) for t in tunnels) or "none"
        return Row(name, FAIL, f"no https tunnel to port {port} (tunnels: {seen})",
                   f"restart the ngrok agent with a tunnel to port {port} (NGROK_DOMAIN, if set, must be yours)")
    ctx.tunnel_url = https[0]["public_url"].rstrip("/")
    return Row(name, OK, f"{ctx.tunnel_url} → port {port}")


def check_round_trip(ctx: Context) -> Row:
    """A signed event that the policy ignores, through the public URL: it proves the public
    URL reaches this appliance and its credentials match, and nothing gets answered."""
    s = ctx.settings
    name = "public URL round trip"
    public, source = ctx.public_url()
    if not public:
        return Row(name, SKIP, "not configured (no PUBLIC_URL, no registered URL, no ngrok tunnel)")
    if s.webhook_use_https and not public.startswith("https://"):
        return Row(name, FAIL, f"{public} ({source}) is not https and WEBHOOK_USE_HTTPS=true",
                   "use an https public URL, or set WEBHOOK_USE_HTTPS=false for a plain-http setup")
    nonce = uuid.uuid4().hex[:12]
    event = f"chatwootai_doctor_{nonce}"
    try:
        r = post_webhook(s, {"event": event, "account": {"id": s.chatwoot_account_id or 1}},
                         base_url=public, delivery=f"doctor-{nonce}", timeout=HTTP_TIMEOUT_S * 2)
    except httpx.HTTPError as exc:
        return Row(name, FAIL, f"{public}/webhook: {type(exc).__name__}",
                   "the public URL does not reach this machine: check the tunnel or the proxy in front of it")
    try:
        body = r.json()
    except ValueError:
        body = {}
    if r.status_code == 401:
        return Row(name, FAIL, f"{public}/webhook answered 401",
                   "the URL reaches an appliance with other credentials: check WEBHOOK_AUTH_TOKEN /"
                   " CHATWOOT_WEBHOOK_SECRET, or where the proxy forwards to")
    if r.status_code != 200 or body.get("status") != "ignored" or nonce not in str(body.get("reason", "")):
        return Row(name, FAIL, f"{public}/webhook answered HTTP {r.status_code} {str(body)[:80]}",
                   "the public URL does not reach this appliance's /webhook: check the tunnel or proxy target")
    seen = _seen_in_log(s, nonce)
    return Row(name, OK, f"{public}/webhook → this appliance (ignored, nothing answered)"
                         + (", seen in webhook.log" if seen else ""))


def _seen_in_log(settings: Settings, nonce: str) -> bool:
    path = Path(settings.log_dir) / "webhook.log"
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        try:
            with path.open("rb") as f:
                f.seek(max(0, path.stat().st_size - 65536))
                if nonce.encode() in f.read():
                    return True
        except OSError:
            return False
        time.sleep(0.05)
    return False


def _ssh_command(s: Settings, remote: str) -> list[str] | None:
    command = ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "-o", "StrictHostKeyChecking=accept-new",
               "-p", str(s.vps_port)]
    if s.vps_ssh_key_file:
        command += ["-i", str(s.vps_ssh_key_file)]
    elif s.vps_password:
        if not shutil.which("sshpass"):
            return None
        command = ["sshpass", "-e", *command]
        command[command.index("BatchMode=yes")] = "BatchMode=no"
    target = f"{s.vps_user}@{s.vps_host}" if s.vps_user else s.vps_host
    return [*command, target or "", remote]


def _run_ssh(s: Settings, remote: str) -> subprocess.CompletedProcess | None:
    command = _ssh_command(s, remote)
    if command is None:
        return None
    env = None
    if s.vps_password and not s.vps_ssh_key_file:
        import os

        env = dict(os.environ, SSHPASS=s.vps_password)  # sshpass -e: never on the command line
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=20, env=env)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return subprocess.CompletedProcess(command, 255, "", f"{type(exc).__name__}")


def check_vps(ctx: Context) -> Row:
    s = ctx.settings
    name = "VPS over SSH"
    if not s.vps_host:
        return Row(name, SKIP, "not configured (VPS_HOST not set)")
    if not shutil.which("ssh"):
        return Row(name, FAIL, "no ssh client on this machine", "install openssh-client")
    result = _run_ssh(s, "true")
    if result is None:
        return Row(name, FAIL, "VPS_PASSWORD is set but sshpass is not installed",
                   "use VPS_SSH_KEY_FILE (recommended) or install sshpass")
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1][:160]
        return Row(name, FAIL, f"{s.vps_user or ''}@{s.vps_host}:{s.vps_port}: {last}",
                   "check VPS_HOST, VPS_PORT, VPS_USER and that the key in VPS_SSH_KEY_FILE is authorised there")
    ctx.notes["vps_ok"] = True
    return Row(name, OK, f"{s.vps_user or ''}@{s.vps_host}:{s.vps_port}")


def check_proxy(ctx: Context) -> Row:
    s = ctx.settings
    name = "proxy container"
    if not s.vps_host or not s.proxy_container_name:
        return Row(name, SKIP, "not configured (VPS_HOST and PROXY_CONTAINER_NAME)")
    if not ctx.notes.get("vps_ok"):
        return Row(name, FAIL, "not checked: the VPS is not reachable over SSH", "fix the VPS row first")
    result = _run_ssh(s, f"docker inspect -f '{{{{.State.Status}}}}' {_quote(s.proxy_container_name)}")
    if result is None or result.returncode != 0:
        err = ((result.stderr if result else "") or "").strip().splitlines()
        return Row(name, FAIL, f"{s.proxy_container_name}: {(err or ['not found'])[-1][:160]}",
                   "check PROXY_CONTAINER_NAME (`docker ps` on the VPS) and that VPS_USER may run docker")
    state = result.stdout.strip()
    if state != "running":
        return Row(name, FAIL, f"{s.proxy_container_name} is {state}",
                   f"start it on the VPS: `docker start {s.proxy_container_name}`")
    return Row(name, OK, f"{s.proxy_container_name} is running")


def _quote(value: str) -> str:
    import shlex

    return shlex.quote(value)
