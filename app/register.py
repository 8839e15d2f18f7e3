"""`chatwootai register [--once|--watch]`: tell Chatwoot where the appliance is.

See docs/architecture.md#processes and docs/operations.md#public-url-and-proxy.

The public URL is `PUBLIC_URL` when set, else the https tunnel for the web port that the ngrok
agent's local API lists (`NGROK_API_URL` + `/api/tunnels`), waited for within `--timeout`.
Then, by `REGISTER_MODE`:
- `agent_bot`: the agent bot's `outgoing_url` becomes `{public_url}/webhook?token=…`;
- `webhook`: the account webhook's `url` does (the webhook is created when `CHATWOOT_WEBHOOK_ID`
  is unset, and its id kept in the store so a restart updates the same one);
- `off`: nothing is sent.
Chatwoot is read first and nothing is sent when it already has that URL. The URL is written to
`DATA_DIR/public_url` (where `/ready` shows it); with `AUTO_UPDATE_PROXY=true` the proxy
playbook runs once per new URL. `--watch` keeps polling and registers again when the tunnel's
URL changes (ngrok restarted), re-reading Chatwoot every RECHECK_S in case someone edited it.

The token is part of the URL Chatwoot calls, so every URL that reaches a log line goes through
`redact_url`, and the log redactor also knows the token's percent-encoded forms.

Exit status: 0 registered (or nothing to do under `--watch`), 1 failure (no tunnel in time,
Chatwoot refused, a setting registration needs is missing under `--once`, the proxy update failed
under `--once`), 2 a public URL the configuration forbids (http under `WEBHOOK_USE_HTTPS=true`).
"""

from __future__ import annotations

import asyncio
import signal
import time
from typing import Any

import httpx
from loguru import logger

from app.chatwoot import api
from app.client import ChatwootClient, ChatwootRejected, ChatwootUnavailable
from app.errors import ChatwootAIError
from app.public_url import PUBLIC_URL_FILE, pick_tunnel, redact_url, webhook_url, write_public_url
from app.settings import Settings
from app.store.registration import RegistrationState

DEFAULT_TIMEOUT_S = 120.0
DEFAULT_INTERVAL_S = 5.0
INTERVAL_BOUNDS = (0.2, 300.0)
TIMEOUT_BOUNDS = (1.0, 3600.0)
RECHECK_S = 600.0  # --watch re-reads Chatwoot this often even when the URL did not change
WEBHOOK_SUBSCRIPTIONS = ("message_created", "message_updated", "conversation_status_changed", "conversation_updated")


class RegisterError(ChatwootAIError):
    """Registration cannot go on; the message is safe to print (no token)."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


def not_applicable(settings: Settings) -> str | None:
    """Why registration has nothing to do with this configuration, or None."""
    if settings.register_mode == "off":
        return "REGISTER_MODE=off"
    if not settings.chatwoot_base_url or not settings.chatwoot_account_id:
        return "CHATWOOT_BASE_URL and CHATWOOT_ACCOUNT_ID are needed to register"
    if not (settings.chatwoot_admin_api_key or settings.chatwoot_api_key):
        return "CHATWOOT_ADMIN_API_KEY (or CHATWOOT_API_KEY) is needed to register"
    if settings.register_mode == "agent_bot" and not settings.chatwoot_agent_bot_id:
        return "CHATWOOT_AGENT_BOT_ID is needed with REGISTER_MODE=agent_bot"
    if not settings.public_url and not settings.ngrok_auth_token:
        return "no public URL: set PUBLIC_URL, or NGROK_AUTH_TOKEN for an ngrok tunnel"
    return None


# -- Chatwoot ----------------------------------------------------------------------------
def admin_client(settings: Settings) -> ChatwootClient:
    return ChatwootClient(settings.chatwoot_base_url or "", settings.chatwoot_admin_api_key or settings.chatwoot_api_key
                          or "", backoff_max=10.0)


def _webhooks(answer: Any) -> list[dict[str, Any]]:
    # Real Chatwoot wraps the list in {"payload": {"webhooks": [...]}}; the swagger says a bare list.
    if isinstance(answer, dict):
        answer = (answer.get("payload") or {}).get("webhooks", answer.get("payload"))
    return [h for h in answer if isinstance(h, dict)] if isinstance(answer, list) else []


def _webhook_id(answer: Any) -> int | None:
    if isinstance(answer, dict):
        payload = answer.get("payload")
        hook = payload.get("webhook", payload) if isinstance(payload, dict) else answer
        if isinstance(hook, dict) and str(hook.get("id", "")).isdigit():
            return int(hook["id"])
    return None


def _remembered_webhook_id(settings: Settings, state: RegistrationState | None) -> int | None:
    if settings.chatwoot_webhook_id:
        return settings.chatwoot_webhook_id
    value = state.get("webhook_id") if state is not None else None
    return int(value) if value and value.isdigit() else None


async def current_registration(settings: Settings, client: ChatwootClient,
                               state: RegistrationState | None = None) -> str | None:
    """The URL Chatwoot currently calls for this appliance (None when there is none yet)."""
    account = settings.chatwoot_account_id
    if settings.register_mode == "agent_bot" and account and settings.chatwoot_agent_bot_id:
        bot = await client.send(api.get_agent_bot(account, settings.chatwoot_agent_bot_id))
        return (bot.get("outgoing_url") or None) if isinstance(bot, dict) else None
    if settings.register_mode == "webhook" and account:
        own = state is None
        state = RegistrationState(settings.data_dir) if own else state
        try:
            hook_id = _remembered_webhook_id(settings, state)
        finally:
            if own:
                state.close()
        if hook_id is None:
            return None
        hooks = _webhooks(await client.send(api.list_webhooks(account)))
        return next((h.get("url") or None for h in hooks if h.get("id") == hook_id), None)
    return None


async def register_url(settings: Settings, client: ChatwootClient, target: str,
                       state: RegistrationState) -> tuple[bool, str | None]:
    """Make Chatwoot call `target`; (sent anything, what Chatwoot had before)."""
    account = settings.chatwoot_account_id
    assert account is not None  # not_applicable() checked
    if settings.register_mode == "agent_bot":
        bot_id = settings.chatwoot_agent_bot_id
        assert bot_id is not None
        current = await current_registration(settings, client, state)
        if current == target:
            return False, current
        await client.send(api.update_agent_bot(account, bot_id, outgoing_url=target))
        return True, current
    hook_id = _remembered_webhook_id(settings, state)
    hooks = _webhooks(await client.send(api.list_webhooks(account)))
    hook = next((h for h in hooks if h.get("id") == hook_id), None) if hook_id else None
    if hook_id and hook is None:
        if settings.chatwoot_webhook_id:
            raise RegisterError(f"CHATWOOT_WEBHOOK_ID={hook_id}: account {account} has no such webhook")
        state.delete("webhook_id")  # deleted in Chatwoot since we created it: create another
    if hook is None:  # ours, from a store that was lost: adopt it rather than add a duplicate
        hook = next((h for h in hooks if h.get("url") == target), None)
    if hook is None:
        answer = await client.send(api.create_webhook(account, target, WEBHOOK_SUBSCRIPTIONS, name=settings.bot_name))
        new_id = _webhook_id(answer)
        if new_id is None:
            raise RegisterError("Chatwoot created the webhook but its answer carried no id")
        state.set("webhook_id", str(new_id))
        return True, None
    if not settings.chatwoot_webhook_id:
        state.set("webhook_id", str(hook["id"]))
    if hook.get("url") == target:
        return False, target
    # Keep the subscriptions the operator chose; ours when the hook has none we can send back.
    subscriptions = [s for s in hook.get("subscriptions") or [] if s in api.WEBHOOK_EVENTS] or WEBHOOK_SUBSCRIPTIONS
    await client.send(api.update_webhook(account, int(hook["id"]), target, subscriptions))
    return True, hook.get("url")


# -- the program -------------------------------------------------------------------------
class Registrar:
    def __init__(self, settings: Settings, *, timeout: float, interval: float):
        self.settings, self.timeout, self.interval = settings, timeout, interval
        self.tunnels_url = settings.ngrok_api_url.rstrip("/") + "/api/tunnels"
        self.stop = asyncio.Event()
        self.registered: str | None = None  # the public URL Chatwoot was last seen to have
        self.checked_at = 0.0
        self.last_error: str | None = None
        self.proxy_failed: tuple[str, float] | None = None
        self.watching = False

    # the public URL
    async def read_public_url(self, http: httpx.AsyncClient) -> tuple[str | None, str]:
        """(URL or None, why not) — from PUBLIC_URL or the agent API."""
        if self.settings.public_url:
            return self.settings.public_url, ""
        try:
            response = await http.get(self.tunnels_url)
            response.raise_for_status()
            payload = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            return None, f"the ngrok agent API at {self.tunnels_url} did not answer ({type(exc).__name__})"
        https_only = self.settings.webhook_use_https
        url = pick_tunnel(payload, self.settings.webhook_port, https_only=https_only)
        if url is None:
            kind = "https tunnel" if https_only else "tunnel"
            return None, f"the ngrok agent lists no {kind} for port {self.settings.webhook_port}"
        return url, ""

    async def wait_public_url(self, http: httpx.AsyncClient) -> str | None:
        """The public URL, polled for up to `timeout`; None when told to stop meanwhile."""
        deadline = time.monotonic() + self.timeout
        while True:
            url, why = await self.read_public_url(http)
            if url is not None:
                return url
            if self.stop.is_set():
                return None
            if time.monotonic() >= deadline:
                raise RegisterError(
                    f"no public URL after {self.timeout:g} s: {why} (is the ngrok program running? "
                    "its lines in `docker logs` say why not)"
                )
            await self._sleep(min(self.interval, max(0.0, deadline - time.monotonic())))

    def check_scheme(self, url: str) -> None:
        if self.settings.webhook_use_https and not url.startswith("https://"):
            raise RegisterError(
                f"refusing to register {url}: WEBHOOK_USE_HTTPS=true allows only an https public URL "
                "(use an https URL, or set WEBHOOK_USE_HTTPS=false)", exit_code=2,
            )

    # one registration
    async def apply(self, client: ChatwootClient, state: RegistrationState, public_url: str) -> None:
        self.check_scheme(public_url)
        # The URL is public whatever Chatwoot answers: /ready shows it even while Chatwoot fails.
        if write_public_url(self.settings.data_dir, public_url):
            logger.info("public URL {} written to {}", public_url, self.settings.data_dir / PUBLIC_URL_FILE)
        target = webhook_url(public_url, self.settings.webhook_auth_token)
        where = "agent bot" if self.settings.register_mode == "agent_bot" else "account webhook"
        sent, before = await register_url(self.settings, client, target, state)
        if sent:
            logger.info("registered {} with the {} (was {})", redact_url(target), where, redact_url(before) or "unset")
        else:
            # The periodic re-check of an unchanged URL is not news.
            level = "INFO" if public_url != self.registered else "DEBUG"
            logger.log(level, "already registered: the {} calls {}; nothing sent", where, redact_url(target))
        self.registered, self.checked_at, self.last_error = public_url, time.monotonic(), None
        await self.update_proxy(state, public_url)

    async def update_proxy(self, state: RegistrationState, public_url: str) -> None:
        """Run the proxy playbook once per new URL (and again after RECHECK_S when it failed)."""
        if not self.settings.auto_update_proxy or state.get("proxy_url") == public_url:
            return
        failed = self.proxy_failed
        if failed and failed[0] == public_url and time.monotonic() - failed[1] < RECHECK_S:
            return
        try:
            from app.proxy import update_proxy  # the Ansible side; imported only when enabled

            ok = await asyncio.to_thread(update_proxy, self.settings, public_url)
        except Exception as exc:  # noqa: BLE001 - a proxy failure must not stop registration
            logger.error("proxy update failed: {}: {}", type(exc).__name__, str(exc)[:300])
            ok = False
        if ok:
            state.set("proxy_url", public_url)
            self.proxy_failed = None
            logger.info("proxy updated to {}", public_url)
        else:
            self.proxy_failed = (public_url, time.monotonic())
            logger.error("proxy not updated to {}; registration itself is done{}", public_url,
                         f"; retrying in {RECHECK_S:g} s" if self.watching else "")

    # the loops
    async def run(self, *, watch: bool) -> int:
        async with httpx.AsyncClient(timeout=3.0) as http, admin_client(self.settings) as client:
            state = RegistrationState(self.settings.data_dir)
            try:
                public_url = await self.wait_public_url(http)
                if public_url is None:
                    return 0
                logger.info("public URL {} ({})", public_url, "PUBLIC_URL" if self.settings.public_url else "ngrok")
                try:
                    await self.apply(client, state, public_url)
                except (ChatwootRejected, ChatwootUnavailable) as exc:
                    if not watch:
                        raise RegisterError(_explain(exc)) from None
                    self._failed(exc)
                if watch:
                    await self.watch(http, client, state)
                    return 0
                return 1 if self.proxy_failed else 0  # --once: the proxy update asked for did not happen
            finally:
                state.close()

    async def watch(self, http: httpx.AsyncClient, client: ChatwootClient, state: RegistrationState) -> None:
        gone, self.watching = False, True
        while not self.stop.is_set():
            await self._sleep(self.interval)
            if self.stop.is_set():
                break
            url, why = await self.read_public_url(http)
            if url is None:
                if not gone:
                    logger.warning("waiting for the tunnel: {}", why)
                gone = True
                continue
            if gone:
                logger.info("tunnel back: {}", url)
            gone = False
            stale = time.monotonic() - self.checked_at >= RECHECK_S
            if url != self.registered or stale or self.last_error is not None:
                if url != self.registered and self.registered is not None:
                    logger.info("public URL changed: {} -> {}", self.registered, url)
                try:
                    await self.apply(client, state, url)
                except (ChatwootRejected, ChatwootUnavailable) as exc:
                    self._failed(exc)
                except RegisterError as exc:
                    if exc.exit_code == 2:
                        raise
                    self._failed(exc)

    def _failed(self, exc: Exception) -> None:
        text = _explain(exc)
        if text != self.last_error:  # one line per distinct failure, not one per poll
            logger.error("registration failed, retrying every {:g} s: {}", self.interval, text)
        self.last_error = text

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self.stop.wait(), timeout=seconds)
        except TimeoutError:
            pass


def _explain(exc: Exception) -> str:
    if isinstance(exc, ChatwootRejected) and exc.status in (401, 403):
        return f"{exc} (registration needs an administrator's user token: set CHATWOOT_ADMIN_API_KEY)"
    return str(exc)


def run_register(settings: Settings, *, watch: bool, timeout: float = DEFAULT_TIMEOUT_S,
                 interval: float = DEFAULT_INTERVAL_S) -> int:
    from app.logs import setup_logging

    redactor = setup_logging(settings, component="register", filename=None)
    reason = not_applicable(settings)
    if reason is not None:
        # Under supervisord (--watch) "nothing to do" is a clean exit, not a crash to restart.
        if settings.register_mode == "off" or watch:
            logger.info("registration not started: {}", reason)
            return 0
        logger.error("registration not possible: {}", reason)
        return 1
    registrar = Registrar(settings, timeout=timeout, interval=interval)

    async def main() -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, registrar.stop.set)
        return await registrar.run(watch=watch)

    try:
        return asyncio.run(main())
    except RegisterError as exc:
        logger.error("registration failed: {}", redactor(str(exc)))
        return exc.exit_code
