"""`chatwootai tunnel` as a real process: its decisions not to start, and the ngrok agent run
through pyngrok — a fake agent executable (tests/fakes/ngrok.py) standing in for the binary."""

from __future__ import annotations

import json
import os
import signal

import pytest

from tests.fakes.ngrok import write_fake_agent

# chatwoot_with_agent_bot, ngrok_agent and register_runner are the fixtures `chatwoot`, `agent` and
# `register`, shared by the register and tunnel tests.
from tests.integration.registration import (
    BOT_ID,
    NGROK_TOKEN,
    PORT,
    assert_no_secret,
    chatwoot_with_agent_bot,  # noqa: F401 - a fixture
    expected,
    ngrok_agent,  # noqa: F401 - a fixture
    register_runner,  # noqa: F401 - a fixture
)
from tests.support import free_port, wait_until

pytestmark = pytest.mark.slow


def test_tunnel_not_started_without_token(register):
    done = register(NGROK_AUTH_TOKEN="").run("tunnel")
    assert done.returncode == 0
    assert done.stdout.strip() == "tunnel not started: NGROK_AUTH_TOKEN is not set (set it for a public ngrok URL, or set PUBLIC_URL)"


def test_tunnel_not_started_with_public_url(register):
    done = register(PUBLIC_URL="https://bot.example.com").run("tunnel")
    assert done.returncode == 0
    assert done.stdout.strip() == "tunnel not started: PUBLIC_URL is set, the appliance is exposed without ngrok"


def test_tunnel_not_started_without_agent_binary(register, tmp_path):
    missing = tmp_path / "no-such-ngrok"
    done = register(NGROK_PATH=str(missing)).run("tunnel")
    assert done.returncode == 0
    assert done.stdout.strip() == f"tunnel not started: the ngrok agent is not installed ({missing} not found; image built with NGROK_INSTALL=false?)"
    assert not missing.exists(), "nothing is downloaded at run time"
    assert_no_secret(done.stdout + done.stderr)


@pytest.fixture
def fake_agent(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    return write_fake_agent(bin_dir)


def test_tunnel_runs_the_agent_and_register_reads_its_url(register, chatwoot, tmp_path, fake_agent):
    api_port = free_port()
    record = tmp_path / "agent.json"
    reg = register(NGROK_PATH=str(fake_agent), NGROK_API_URL=f"http://127.0.0.1:{api_port}",
                   NGROK_DOMAIN="shop-bot.ngrok.app", FAKE_NGROK_RECORD=str(record))
    tunnel, log = reg.start("tunnel")
    done = reg.run("register", "--once", "--timeout", "30", "--interval", "0.2")
    assert done.returncode == 0, done.stdout + log.read_text()
    assert chatwoot.agent_bots[BOT_ID]["outgoing_url"] == expected("https://shop-bot.ngrok.app")
    seen = json.loads(record.read_text())
    assert seen["config"]["version"] == "3"
    assert seen["config"]["tunnels"]["chatwoot"] == {"proto": "http", "addr": PORT, "domain": "shop-bot.ngrok.app"}
    assert seen["config"]["agent"]["web_addr"] == f"127.0.0.1:{api_port}"
    assert NGROK_TOKEN not in " ".join(seen["argv"]), "the token stays off the agent's command line"
    config_file = tmp_path / "data" / "ngrok" / "ngrok.yml"
    assert config_file.stat().st_mode & 0o077 == 0, "the config holds the token: owner-only"
    assert tunnel.poll() is None, "the program stays in the foreground while the agent runs"
    assert reg.stop(tunnel, log) == 0
    wait_until(lambda: _gone(seen["pid"]), timeout=10, what="agent stopped with the program")
    assert_no_secret(reg.all_output())


def test_tunnel_exits_nonzero_when_the_agent_dies(register, tmp_path, fake_agent):
    record = tmp_path / "agent.json"
    reg = register(NGROK_PATH=str(fake_agent), NGROK_API_URL=f"http://127.0.0.1:{free_port()}",
                   FAKE_NGROK_RECORD=str(record))
    tunnel, log = reg.start("tunnel")
    wait_until(lambda: "tunnel up" in log.read_text(), what="tunnel up")
    os.kill(json.loads(record.read_text())["pid"], signal.SIGKILL)
    assert tunnel.wait(timeout=20) == 1
    assert "ngrok agent exited" in log.read_text()


def test_tunnel_with_a_refused_token_exits_nonzero_without_printing_it(register, tmp_path, fake_agent):
    reg = register(NGROK_PATH=str(fake_agent), NGROK_API_URL=f"http://127.0.0.1:{free_port()}",
                   NGROK_AUTH_TOKEN="bad-token")
    done = reg.run("tunnel")
    assert done.returncode == 1
    assert "tunnel failed to start" in done.stdout and "authentication failed" in done.stdout
    assert "bad-token" not in done.stdout + done.stderr


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False
