"""app.proxy: what the playbook's process gets (no appliance secret but the VPS password, and
that only in its environment) and how a failure is read back from ansible's output."""

from __future__ import annotations

import pytest
from loguru import logger

from app.proxy import failure_reason, playbook_env, update_proxy
from app.settings import Settings
from tests.support import base_env


def settings(tmp_path, **extra: str) -> Settings:
    return Settings.from_env(base_env(tmp_path, VPS_HOST="vps.example.com", VPS_USER="deploy", VPS_PORT="2222",
                                      VPS_PASSWORD="pw-unit-3e1", PROXY_CONTAINER_NAME="proxy",
                                      PROXY_FILE_PATH="/etc/proxy.conf", LLM_API_KEY="llm-key-unit-77", **extra))


def test_playbook_env_carries_the_vps_settings_and_no_other_secret(tmp_path):
    s = settings(tmp_path)
    inherited = {"PATH": "/usr/bin", "WEBHOOK_AUTH_TOKEN": "tok", "LLM_API_KEY": "k", "CHATWOOT_API_KEY_FILE": "/f",
                 "PUBLIC_URL": "https://stale.example.test", "VPS_SSH_KEY_FILE": "/stale/key"}
    env = playbook_env(s, inherited)
    assert env["PATH"] == "/usr/bin"
    assert {k: env[k] for k in ("VPS_HOST", "VPS_USER", "VPS_PORT", "VPS_PASSWORD", "PROXY_CONTAINER_NAME",
                                "PROXY_FILE_PATH", "WEBHOOK_USE_HTTPS", "WEBHOOK_PORT")} == {
        "VPS_HOST": "vps.example.com", "VPS_USER": "deploy", "VPS_PORT": "2222", "VPS_PASSWORD": "pw-unit-3e1",
        "PROXY_CONTAINER_NAME": "proxy", "PROXY_FILE_PATH": "/etc/proxy.conf", "WEBHOOK_USE_HTTPS": "true",
        "WEBHOOK_PORT": "8001"}
    for gone in ("WEBHOOK_AUTH_TOKEN", "LLM_API_KEY", "CHATWOOT_API_KEY_FILE", "PUBLIC_URL", "VPS_SSH_KEY_FILE"):
        assert gone not in env, gone
    assert "llm-key-unit-77" not in env.values() and s.webhook_auth_token not in env.values()


def test_playbook_env_follows_webhook_use_https(tmp_path):
    assert playbook_env(settings(tmp_path, WEBHOOK_USE_HTTPS="false"), {})["WEBHOOK_USE_HTTPS"] == "false"


def test_failure_reason_is_the_first_task_message_on_one_line():
    output = (
        "TASK [proxy_update : Fail when the proxy container does not exist] ****\n"
        'fatal: [vps]: FAILED! => {"changed": false, "msg": "proxy container \'x\' not found on vps:\\n'
        'check PROXY_CONTAINER_NAME"}\n'
        "PLAY RECAP ****\n"
    )
    assert failure_reason(output) == "proxy container 'x' not found on vps: check PROXY_CONTAINER_NAME"


def test_failure_reason_reads_an_unreachable_vps_and_an_ansible_error():
    unreachable = 'fatal: [vps]: UNREACHABLE! => {"changed": false, "msg": "Failed to connect", "unreachable": true}\n'
    assert failure_reason(unreachable) == "Failed to connect"
    assert failure_reason("[ERROR]: the playbook could not be parsed\n") == "[ERROR]: the playbook could not be parsed"


def test_failure_reason_reads_the_indented_form_of_verbose_runs():
    output = 'fatal: [vps]: UNREACHABLE! => {\n    "changed": false,\n    "msg": "ssh: connect refused",\n}\n'
    output = output.replace(",\n}", "\n}")
    assert failure_reason(output) == "ssh: connect refused"


@pytest.fixture
def captured_logs():
    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(str(message).rstrip("\n")), level="DEBUG", format="{level} {message}")
    yield lines
    logger.remove(sink)


def test_update_proxy_refuses_to_run_without_the_vps_settings(tmp_path, captured_logs):
    settings = Settings.from_env(base_env(tmp_path, AUTO_UPDATE_PROXY="true"))
    assert update_proxy(settings, "https://x.example.test") is False
    assert captured_logs == ["ERROR proxy playbook not run: VPS_HOST, PROXY_CONTAINER_NAME, PROXY_FILE_PATH not set"]
