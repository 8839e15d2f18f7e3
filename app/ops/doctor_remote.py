"""The doctor's rows about the way in from outside: the ngrok tunnel, the URL registered in
Chatwoot, a signed request through the public URL, the VPS over SSH and its proxy container.
Same contract as `doctor_checks`: each returns a `Row`, never raises for what it finds.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from app.ops.doctor_checks import (
    FAIL,
    HTTP_TIMEOUT_S,
    OK,
    SKIP,
    Context,
    Row,
    chatwoot_client,
    chatwoot_failure,
    run_async,
)
from app.ops.payloads import post_webhook
from app.public_url import webhook_url
from app.settings import Settings


def check_registration(ctx: Context) -> Row:
    """The URL Chatwoot calls equals `{public URL}/webhook?token=…` (what `register` sets)."""
    s = ctx.settings
    name = "registered URL"
    from app import register

    current = register.current_registration
    why = register.not_applicable(s)
    if why or s.register_mode == "off":
        return Row(name, SKIP, f"not configured ({why or 'REGISTER_MODE=off'})")
    public, source = ctx.public_url()
    if not public:
        return Row(name, SKIP, "not configured (no public URL yet: PUBLIC_URL or the ngrok tunnel)")
    expected = webhook_url(public, s.webhook_auth_token)
    key = s.chatwoot_admin_api_key or s.chatwoot_api_key
    if not s.chatwoot_base_url or not key:
        return Row(name, SKIP, "not configured (Chatwoot is not configured)")

    async def go() -> Any:
        async with chatwoot_client(s, key) as client:
            return await current(s, client)

    try:
        registered = run_async(go)
    except Exception as exc:  # noqa: BLE001
        return chatwoot_failure(name, s, exc, "CHATWOOT_ADMIN_API_KEY")
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
    return shlex.quote(value)
