"""`chatwootai register --watch` with AUTO_UPDATE_PROXY=true runs the proxy playbook (over SSH,
against the real proxy container) after each change of the public URL."""

from __future__ import annotations

import pytest

from tests.ansible.helpers import ANSIBLE_HOME, PROXY_FILE
from tests.fakes.chatwoot import checked_fake
from tests.fakes.ngrok import NgrokApiFake
from tests.integration.registration import (
    ADMIN_TOKEN,
    BOT_ID,
    BOT_TOKEN,
    FIRST,
    PORT,
    SECOND,
    Register,
    assert_no_secret,
    expected,
)
from tests.support import wait_until

pytestmark = [pytest.mark.ansible, pytest.mark.slow]


def test_register_hook_with_auto_update_proxy_runs_the_playbook_after_a_url_change(tmp_path, vps, proxy):
    with checked_fake(user_tokens=(ADMIN_TOKEN,), bot_tokens=(BOT_TOKEN,)) as chatwoot, NgrokApiFake() as agent:
        chatwoot.add_agent_bot(BOT_ID, outgoing_url="https://old.example.com/webhook")
        agent.set_tunnel(FIRST, port=PORT)
        reg = Register(tmp_path, chatwoot, agent, AUTO_UPDATE_PROXY="true", PROXY_CONTAINER_NAME=proxy.name,
                       PROXY_FILE_PATH=PROXY_FILE, VPS_PASSWORD="vps-pass-hook-9d3f", ANSIBLE_HOME=ANSIBLE_HOME,
                       **vps.env())
        proc, log = reg.start("register", "--watch", "--interval", "0.2")
        try:
            # Generous bounds: each playbook run takes tens of seconds on a loaded machine.
            wait_until(lambda: f"proxy updated to {FIRST}" in log.read_text(), timeout=240, what="first proxy update")
            assert proxy.wait_answering() == FIRST
            started = proxy.state()["StartedAt"]

            agent.set_tunnel(SECOND, port=PORT)  # ngrok restarted with a new URL
            wait_until(lambda: f"proxy updated to {SECOND}" in log.read_text(), timeout=240, what="proxy update")
            assert chatwoot.agent_bots[BOT_ID]["outgoing_url"] == expected(SECOND)
            assert proxy.wait_answering() == SECOND
            assert proxy.state()["StartedAt"] != started
            assert proc.poll() is None
        finally:
            assert reg.stop(proc, log) == 0
        output = log.read_text()
        assert f"now forwards to {SECOND} (file rewritten, restarted)" in output
        assert_no_secret(output)
        assert "vps-pass-hook-9d3f" not in output
