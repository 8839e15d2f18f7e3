"""`chatwootai register` as a real process against an ngrok agent-API fake (a real HTTP server)
and the Chatwoot fake (swagger-checked, recording every request)."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.fakes.chatwoot import Fault

# chatwoot_with_agent_bot, ngrok_agent and register_runner are the fixtures `chatwoot`, `agent` and
# `register`, shared by the register and tunnel tests.
from tests.integration.registration import (
    ADMIN_TOKEN,
    BOT_ID,
    FIRST,
    PORT,
    SECOND,
    WEBHOOK_TOKEN,
    assert_no_secret,
    chatwoot_with_agent_bot,  # noqa: F401 - a fixture
    expected,
    ngrok_agent,  # noqa: F401 - a fixture
    patches,
    register_runner,  # noqa: F401 - a fixture
)
from tests.support import base_env, free_port, wait_until

pytestmark = pytest.mark.slow


# -- agent_bot mode ------------------------------------------------------------------------
def test_agent_bot_first_run_patches_once_second_run_sends_nothing(register, chatwoot, agent):
    agent.set_tunnel(FIRST, port=PORT)
    reg = register()
    first = reg.run("register", "--once")
    assert first.returncode == 0, first.stdout + first.stderr
    assert len(patches(chatwoot)) == 1
    url = chatwoot.agent_bots[BOT_ID]["outgoing_url"]
    assert url == expected(FIRST)
    # What Chatwoot will call decodes back to the exact token the web program checks.
    assert parse_qs(urlsplit(url).query)["token"] == [WEBHOOK_TOKEN]
    assert patches(chatwoot)[0].headers["api_access_token"] == ADMIN_TOKEN
    assert reg.public_url_file() == FIRST
    assert "registered https://a1b2c3.ngrok-free.app/webhook?token=***" in first.stdout

    second = reg.run("register", "--once")
    assert second.returncode == 0, second.stdout + second.stderr
    assert len(patches(chatwoot)) == 1, "the second run must send nothing: Chatwoot already has the URL"
    assert "already registered" in second.stdout
    gets = [r for r in chatwoot.requests if r.method == "GET" and r.path.endswith(f"/agent_bots/{BOT_ID}")]
    assert len(gets) == 2, "each run reads the bot first"


def test_admin_token_falls_back_to_the_api_key(register, chatwoot, agent):
    agent.set_tunnel(FIRST, port=PORT)
    chatwoot.user_tokens.add("user-token-as-api-key")
    reg = register(CHATWOOT_ADMIN_API_KEY="", CHATWOOT_API_KEY="user-token-as-api-key")
    done = reg.run("register", "--once")
    assert done.returncode == 0, done.stdout + done.stderr
    assert patches(chatwoot)[0].headers["api_access_token"] == "user-token-as-api-key"


def test_a_bot_token_is_refused_with_a_hint_at_the_admin_token(register, chatwoot, agent):
    agent.set_tunnel(FIRST, port=PORT)
    reg = register(CHATWOOT_ADMIN_API_KEY="")  # falls back to the agent bot's own token
    done = reg.run("register", "--once")
    assert done.returncode == 1
    assert "HTTP 401" in done.stdout and "set CHATWOOT_ADMIN_API_KEY" in done.stdout
    assert not patches(chatwoot)


def test_watch_registers_again_when_the_tunnel_url_changes(register, chatwoot, agent):
    agent.set_tunnel(FIRST, port=PORT)
    reg = register()
    proc, log = reg.start("register", "--watch", "--interval", "0.2")
    wait_until(lambda: len(patches(chatwoot)) == 1, what="first registration")
    wait_until(lambda: reg.public_url_file() == FIRST, what="public_url file")

    agent.set_tunnel(SECOND, port=PORT)  # ngrok restarted with a new free URL
    wait_until(lambda: len(patches(chatwoot)) == 2, what="registration of the new URL")
    assert chatwoot.agent_bots[BOT_ID]["outgoing_url"] == expected(SECOND)
    wait_until(lambda: reg.public_url_file() == SECOND, what="public_url file update")

    agent.clear()  # the agent restarting: no tunnel for a while, then the same URL again
    time.sleep(1.0)
    agent.set_tunnel(SECOND, port=PORT)
    time.sleep(1.0)
    assert proc.poll() is None, "--watch keeps running while the tunnel is away"
    assert len(patches(chatwoot)) == 2, "the same URL is not registered twice"
    assert reg.stop(proc, log) == 0
    output = log.read_text()
    assert "waiting for the tunnel" in output and "public URL changed" in output


def test_watch_retries_when_chatwoot_fails_then_recovers(register, chatwoot, agent):
    agent.set_tunnel(FIRST, port=PORT)
    chatwoot.fault("PATCH", "/agent_bots/", Fault.error(401, "Invalid Access Token"))
    reg = register()
    proc, log = reg.start("register", "--watch", "--interval", "0.2")
    wait_until(lambda: chatwoot.agent_bots[BOT_ID]["outgoing_url"] == expected(FIRST), what="registration after a refusal")
    assert proc.poll() is None
    assert reg.stop(proc, log) == 0
    assert "registration failed, retrying" in log.read_text()


# -- webhook mode -------------------------------------------------------------------------
def test_webhook_mode_creates_then_updates_and_reuses_the_remembered_id(register, chatwoot, agent):
    agent.set_tunnel(FIRST, port=PORT)
    reg = register(REGISTER_MODE="webhook")
    first = reg.run("register", "--once")
    assert first.returncode == 0, first.stdout + first.stderr
    assert len(chatwoot.webhooks) == 1
    (hook,) = chatwoot.webhooks.values()
    assert hook["url"] == expected(FIRST)
    assert sorted(hook["subscriptions"]) == sorted(
        ["message_created", "message_updated", "conversation_status_changed", "conversation_updated"])

    agent.set_tunnel(SECOND, port=PORT)
    second = reg.run("register", "--once")
    assert second.returncode == 0, second.stdout + second.stderr
    assert len(chatwoot.webhooks) == 1, "the remembered webhook is updated, not a second one created"
    assert chatwoot.webhooks[hook["id"]]["url"] == expected(SECOND)
    assert [r.path for r in patches(chatwoot, "/webhooks/")] == [f"/api/v1/accounts/1/webhooks/{hook['id']}"]

    third = reg.run("register", "--once")
    assert third.returncode == 0
    writes = [r for r in chatwoot.requests if r.method in ("POST", "PATCH")]
    assert len(writes) == 2, "nothing sent when the webhook already has the URL"
    assert not patches(chatwoot, "/agent_bots/")


def test_webhook_mode_adopts_its_webhook_after_the_store_was_lost(register, chatwoot, agent, tmp_path):
    agent.set_tunnel(FIRST, port=PORT)
    reg = register(REGISTER_MODE="webhook")
    assert reg.run("register", "--once").returncode == 0
    for path in (tmp_path / "data").glob("chatwootai.db*"):
        path.unlink()  # a new volume: the remembered id is gone
    assert reg.run("register", "--once").returncode == 0
    assert len(chatwoot.webhooks) == 1, "the webhook already calling us is adopted, not duplicated"
    agent.set_tunnel(SECOND, port=PORT)
    assert reg.run("register", "--once").returncode == 0
    assert [h["url"] for h in chatwoot.webhooks.values()] == [expected(SECOND)]


def test_webhook_mode_recreates_a_remembered_webhook_deleted_in_chatwoot(register, chatwoot, agent):
    agent.set_tunnel(FIRST, port=PORT)
    reg = register(REGISTER_MODE="webhook")
    assert reg.run("register", "--once").returncode == 0
    chatwoot.webhooks.clear()  # an operator deleted it in Chatwoot's settings
    done = reg.run("register", "--once")
    assert done.returncode == 0, done.stdout
    assert [h["url"] for h in chatwoot.webhooks.values()] == [expected(FIRST)]
    assert len([r for r in chatwoot.requests if r.method == "POST"]) == 2


def test_webhook_mode_updates_the_configured_webhook_id(register, chatwoot, agent):
    agent.set_tunnel(FIRST, port=PORT)
    other = chatwoot.add_webhook("https://someone-else.example.com/hook", ["contact_created"])
    mine = chatwoot.add_webhook("https://old.example.com/webhook", ["message_created", "contact_created"])
    reg = register(REGISTER_MODE="webhook", CHATWOOT_WEBHOOK_ID=str(mine["id"]))
    done = reg.run("register", "--once")
    assert done.returncode == 0, done.stdout + done.stderr
    assert chatwoot.webhooks[mine["id"]]["url"] == expected(FIRST)
    # the operator's subscriptions are kept; the other webhook is untouched; nothing created
    assert chatwoot.webhooks[mine["id"]]["subscriptions"] == ["message_created", "contact_created"]
    assert chatwoot.webhooks[other["id"]]["url"] == "https://someone-else.example.com/hook"
    assert not [r for r in chatwoot.requests if r.method == "POST"]


def test_webhook_mode_with_an_unknown_configured_id_fails_clearly(register, chatwoot, agent):
    agent.set_tunnel(FIRST, port=PORT)
    reg = register(REGISTER_MODE="webhook", CHATWOOT_WEBHOOK_ID="999")
    done = reg.run("register", "--once")
    assert done.returncode == 1
    assert "CHATWOOT_WEBHOOK_ID=999: account 1 has no such webhook" in done.stdout
    assert not [r for r in chatwoot.requests if r.method in ("POST", "PATCH")]


def test_register_mode_off_sends_nothing(register, chatwoot, agent):
    agent.set_tunnel(FIRST, port=PORT)
    reg = register(REGISTER_MODE="off")
    done = reg.run("register", "--watch")
    assert done.returncode == 0
    assert "registration not started: REGISTER_MODE=off" in done.stdout
    assert chatwoot.requests == [] and agent.requests == []


def test_proxy_failure_does_not_stop_registration(register, chatwoot, agent):
    """AUTO_UPDATE_PROXY=true runs the proxy update after a change; here it cannot succeed (no VPS
    configured), which is reported in one line while the registration itself stands; --once
    exits 1 because something it was asked to do did not happen."""
    agent.set_tunnel(FIRST, port=PORT)
    reg = register(AUTO_UPDATE_PROXY="true")
    done = reg.run("register", "--once", timeout=180)
    assert done.returncode == 1, done.stdout + done.stderr
    assert chatwoot.agent_bots[BOT_ID]["outgoing_url"] == expected(FIRST)
    assert f"proxy not updated to {FIRST}; registration itself is done" in done.stdout
    without = register().run("register", "--once")
    assert "proxy" not in without.stdout, "AUTO_UPDATE_PROXY=false: the proxy is left alone"


# -- the public URL -----------------------------------------------------------------------
def test_tunnel_that_never_appears_exits_1_with_a_clear_line(register, chatwoot, agent):
    reg = register()
    done = reg.run("register", "--watch", "--timeout", "1", "--interval", "0.2")
    assert done.returncode == 1
    assert "no public URL after 1 s: the ngrok agent lists no https tunnel for port 18001" in done.stdout
    assert chatwoot.requests == []


def test_agent_api_down_exits_1_naming_the_api(register, chatwoot, agent):
    dead = f"http://127.0.0.1:{free_port()}"
    reg = register(NGROK_API_URL=dead)
    done = reg.run("register", "--once", "--timeout", "1", "--interval", "0.2")
    assert done.returncode == 1
    assert f"the ngrok agent API at {dead}/api/tunnels did not answer" in done.stdout


def test_public_url_wins_over_ngrok(register, chatwoot, agent):
    agent.set_tunnel(FIRST, port=PORT)
    reg = register(PUBLIC_URL="https://bot.example.com")
    done = reg.run("register", "--once")
    assert done.returncode == 0, done.stdout + done.stderr
    assert chatwoot.agent_bots[BOT_ID]["outgoing_url"] == expected("https://bot.example.com")
    assert agent.requests == [], "the ngrok agent is not even asked"
    assert reg.public_url_file() == "https://bot.example.com"


def test_http_url_refused_under_webhook_use_https(register, chatwoot, agent):
    reg = register(PUBLIC_URL="http://bot.example.com")
    done = reg.run("register", "--once")
    assert done.returncode == 2
    assert "refusing to register http://bot.example.com: WEBHOOK_USE_HTTPS=true allows only an https" in done.stdout
    assert not patches(chatwoot)

    # an ngrok agent that lists only an http tunnel is not taken either
    agent.set_tunnel("http://plain.ngrok-free.app", port=PORT)
    ngrok_only = register()
    done = ngrok_only.run("register", "--once", "--timeout", "1", "--interval", "0.2")
    assert done.returncode == 1 and "no https tunnel" in done.stdout

    allowed = register(WEBHOOK_USE_HTTPS="false")
    done = allowed.run("register", "--once")
    assert done.returncode == 0, done.stdout
    assert chatwoot.agent_bots[BOT_ID]["outgoing_url"] == expected("http://plain.ngrok-free.app")


def test_no_token_in_any_output(register, chatwoot, agent):
    agent.set_tunnel(FIRST, port=PORT)
    reg = register()
    assert reg.run("register", "--once").returncode == 0
    # Chatwoot refusing with an error text that echoes the URL it was given
    agent.set_tunnel(SECOND, port=PORT)
    echoed = expected(SECOND)
    chatwoot.fault("PATCH", "/agent_bots/", Fault.error(422, f"Outgoing url {echoed} is invalid"))
    refused = reg.run("register", "--once")
    assert refused.returncode == 1 and "HTTP 422" in refused.stdout
    proc, log = reg.start("register", "--watch", "--interval", "0.2")
    wait_until(lambda: chatwoot.agent_bots[BOT_ID]["outgoing_url"] == echoed, what="registration")
    reg.stop(proc, log)
    # a timeout and a refused URL, for their lines too
    agent.clear()
    reg.run("register", "--once", "--timeout", "1", "--interval", "0.2")
    register(PUBLIC_URL="http://bot.example.com").run("register", "--once")
    text = reg.all_output()
    assert "webhook?token=***" in text
    assert_no_secret(text)


def test_ready_shows_the_registered_url(register, chatwoot, agent, tmp_path):
    """/ready's tunnel check reads the file register writes."""
    from tests.support import Program

    agent.set_tunnel(FIRST, port=PORT)
    reg = register()
    assert reg.run("register", "--once").returncode == 0
    port = free_port()
    web = Program("serve", {**reg.env, "WEBHOOK_PORT": str(port)}, cwd=tmp_path, port=port)
    try:
        web.start()
        ready = httpx.get(f"{web.url}/ready", timeout=5).json()
        assert ready["checks"]["tunnel"] == {"public_url": FIRST}
    finally:
        web.stop()


def test_current_registration_reads_what_chatwoot_calls(tmp_path, chatwoot, agent):
    """The doctor's view: the URL Chatwoot has now, for either mode (None before any)."""
    import asyncio

    from app.client import ChatwootClient
    from app.register import current_registration
    from app.settings import Settings

    env = base_env(tmp_path, CHATWOOT_BASE_URL=chatwoot.url, CHATWOOT_ACCOUNT_ID="1",
                   CHATWOOT_ADMIN_API_KEY=ADMIN_TOKEN, CHATWOOT_AGENT_BOT_ID=str(BOT_ID))
    hook = chatwoot.add_webhook("https://hook.example.com/webhook", ["message_created"])

    async def read(**extra: str) -> str | None:
        async with ChatwootClient(chatwoot.url, ADMIN_TOKEN) as client:
            return await current_registration(Settings.from_env({**env, **extra}), client)

    assert asyncio.run(read()) == "https://old.example.com/webhook"
    assert asyncio.run(read(REGISTER_MODE="webhook")) is None, "no webhook id configured or remembered"
    assert asyncio.run(read(REGISTER_MODE="webhook", CHATWOOT_WEBHOOK_ID=str(hook["id"]))) == hook["url"]
    assert asyncio.run(read(REGISTER_MODE="off")) is None


def test_public_url_is_written_even_when_chatwoot_refuses(register, chatwoot, agent):
    agent.set_tunnel(FIRST, port=PORT)
    chatwoot.fault("GET", "/agent_bots/", Fault.error(404, "Resource could not be found"))
    reg = register()
    done = reg.run("register", "--once")
    assert done.returncode == 1 and "HTTP 404" in done.stdout
    assert reg.public_url_file() == FIRST, "/ready shows the tunnel even while Chatwoot refuses"
    assert not patches(chatwoot)


def test_watch_stops_cleanly_while_waiting_for_the_tunnel(register, chatwoot, agent):
    reg = register()
    proc, log = reg.start("register", "--watch", "--timeout", "300", "--interval", "0.2")
    wait_until(lambda: len(agent.requests) >= 2, what="polling the agent")
    assert reg.stop(proc, log) == 0, log.read_text()
    assert chatwoot.requests == []
