"""The same playbook over real SSH to a VPS stand-in, and app.proxy.update_proxy() driving it."""

from __future__ import annotations

import pytest
from loguru import logger

from app.proxy import update_proxy
from app.settings import Settings
from tests.ansible.helpers import ANSIBLE_HOME, PROXY_FILE, run_playbook
from tests.support import base_env

pytestmark = [pytest.mark.ansible, pytest.mark.slow]

VPS_PASSWORD = "vps-pass-never-shown-5c1e"


def test_playbook_over_ssh_with_key_auth_rewrites_then_reports_no_change(vps, proxy):
    env = {**vps.env(), "PROXY_CONTAINER_NAME": proxy.name, "PROXY_FILE_PATH": PROXY_FILE}
    started = proxy.state()["StartedAt"]
    run = run_playbook("-e", "public_url=https://over-ssh.example.test", local=False, **env)
    assert run.returncode == 0, run
    assert run.changed and run.changed >= 2, run
    assert proxy.wait_answering() == "https://over-ssh.example.test"
    assert proxy.state()["StartedAt"] != started
    again = run_playbook("-e", "public_url=https://over-ssh.example.test", local=False, **env)
    assert again.returncode == 0 and again.changed == 0, again


@pytest.fixture
def captured_logs():
    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(str(message).rstrip("\n")), level="DEBUG", format="{level} {message}")
    yield lines
    logger.remove(sink)


def appliance_settings(tmp_path, vps, proxy, **extra: str) -> Settings:
    env = base_env(tmp_path, **{k: v for k, v in vps.env().items() if k.startswith("VPS_")})
    env.update(PROXY_CONTAINER_NAME=proxy.name, PROXY_FILE_PATH=PROXY_FILE, VPS_PASSWORD=VPS_PASSWORD,
               AUTO_UPDATE_PROXY="true")
    env.update(extra)
    return Settings.from_env(env)


@pytest.fixture
def ssh_options(vps, monkeypatch):
    # What the appliance's environment would hold: ssh options for this stand-in VPS.
    monkeypatch.setenv("ANSIBLE_SSH_ARGS", vps.env()["ANSIBLE_SSH_ARGS"])
    monkeypatch.setenv("ANSIBLE_HOME", ANSIBLE_HOME)


def test_update_proxy_runs_the_playbook_and_logs_one_line_without_secrets(tmp_path, vps, proxy, ssh_options,
                                                                           captured_logs):
    settings = appliance_settings(tmp_path, vps, proxy)
    assert update_proxy(settings, "https://from-register.example.test") is True
    assert proxy.wait_answering() == "https://from-register.example.test"
    outcome = [line for line in captured_logs if line.startswith("INFO")]
    assert outcome == [f"INFO proxy playbook: container {proxy.name} on 127.0.0.1 now forwards to "
                       "https://from-register.example.test (file rewritten, restarted)"]
    assert update_proxy(settings, "https://from-register.example.test") is True
    assert captured_logs[-1].endswith("already forwards to https://from-register.example.test; nothing changed")
    everything = "\n".join(captured_logs)  # DEBUG included: the playbook's whole output
    assert "PLAY RECAP" in everything
    for secret in settings.secret_values:
        assert secret not in everything


def test_update_proxy_failure_returns_false_with_the_reason_in_one_line(tmp_path, vps, proxy, ssh_options,
                                                                        captured_logs):
    settings = appliance_settings(tmp_path, vps, proxy, PROXY_CONTAINER_NAME="ansible-no-such-proxy")
    assert update_proxy(settings, "https://from-register.example.test") is False
    errors = [line for line in captured_logs if line.startswith("ERROR")]
    assert len(errors) == 1 and "\n" not in errors[0]
    assert "proxy playbook failed for container ansible-no-such-proxy on 127.0.0.1 (exit 2)" in errors[0]
    assert "proxy container 'ansible-no-such-proxy' not found" in errors[0]
    assert VPS_PASSWORD not in "\n".join(captured_logs)


def test_password_auth_works_and_the_password_never_appears_even_at_vvvv(vps, proxy):
    vps.set_root_password(VPS_PASSWORD)
    env = {**vps.env(), "PROXY_CONTAINER_NAME": proxy.name, "PROXY_FILE_PATH": PROXY_FILE,
           "VPS_PASSWORD": VPS_PASSWORD}
    del env["VPS_SSH_KEY_FILE"]
    # -o PubkeyAuthentication=no: prove the password did it, not a key ssh found on its own.
    env["ANSIBLE_SSH_ARGS"] += " -o PubkeyAuthentication=no"
    run = run_playbook("-e", "public_url=https://by-password.example.test", "-vvvv", local=False, **env)
    assert run.returncode == 0, run
    assert proxy.wait_answering() == "https://by-password.example.test"
    assert VPS_PASSWORD not in run.output
