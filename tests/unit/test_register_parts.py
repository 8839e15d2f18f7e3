"""The pure parts of registration and the tunnel: URLs, tunnel choice, decisions, the agent config."""

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from app.cli import build_parser
from app.logs import Redactor
from app.public_url import pick_tunnel, redact_url, webhook_url, write_public_url
from app.register import not_applicable
from app.settings import Settings
from app.tunnel import find_agent, render_config, skip_reason, web_addr, write_config
from tests.support import base_env

TOKEN = "a+b/c=d~e%f g"


def settings(tmp_path, **extra) -> Settings:
    return Settings.from_env(base_env(tmp_path, **extra))


def tunnels(*items):
    return {"tunnels": [{"public_url": url, "proto": url.split(":")[0], "config": {"addr": addr}}
                        for url, addr in items], "uri": "/api/tunnels"}


def test_webhook_url_encodes_the_token_so_it_decodes_back_exactly():
    url = webhook_url("https://x.ngrok.app/", TOKEN)
    assert url.startswith("https://x.ngrok.app/webhook?token=")
    assert parse_qs(urlsplit(url).query) == {"token": [TOKEN]}
    assert webhook_url("https://x.ngrok.app", None) == "https://x.ngrok.app/webhook"


def test_redact_url_hides_the_token_and_keeps_the_rest():
    url = webhook_url("https://x.ngrok.app", TOKEN)
    assert redact_url(url) == "https://x.ngrok.app/webhook?token=***"
    assert redact_url("https://x.ngrok.app/webhook") == "https://x.ngrok.app/webhook"
    assert redact_url("https://x/webhook?a=1&TOKEN=s3cret") == "https://x/webhook?a=1&TOKEN=***"
    assert redact_url(None) is None


def test_pick_tunnel_prefers_https_for_the_web_port():
    payload = tunnels(("http://h.ngrok.app", "http://localhost:8001"), ("https://s.ngrok.app", "http://localhost:8001"),
                      ("https://other.ngrok.app", "http://localhost:9000"))
    assert pick_tunnel(payload, 8001, https_only=True) == "https://s.ngrok.app"
    assert pick_tunnel(payload, 9000, https_only=True) == "https://other.ngrok.app"
    assert pick_tunnel(payload, 18001, https_only=True) is None, "port 8001 is not port 18001"


def test_pick_tunnel_takes_http_only_when_allowed():
    payload = tunnels(("http://h.ngrok.app", "localhost:8001"))
    assert pick_tunnel(payload, 8001, https_only=True) is None
    assert pick_tunnel(payload, 8001, https_only=False) == "http://h.ngrok.app"
    assert pick_tunnel(tunnels(("https://n.ngrok.app", "8001")), 8001, https_only=True) == "https://n.ngrok.app"


@pytest.mark.parametrize("payload", [None, [], {}, {"tunnels": None}, {"tunnels": ["x", {"config": None}]}])
def test_pick_tunnel_survives_odd_answers(payload):
    assert pick_tunnel(payload, 8001, https_only=True) is None


def test_write_public_url_is_atomic_and_reports_changes(tmp_path):
    assert write_public_url(tmp_path, "https://a.example") is True
    assert write_public_url(tmp_path, "https://a.example") is False
    assert write_public_url(tmp_path, "https://b.example") is True
    assert (tmp_path / "public_url").read_text() == "https://b.example\n"
    assert [p.name for p in tmp_path.iterdir()] == ["public_url"], "no temporary file left behind"


def test_registration_not_applicable_reasons(tmp_path):
    chatwoot = {"CHATWOOT_BASE_URL": "https://chat.example", "CHATWOOT_ACCOUNT_ID": "1", "CHATWOOT_API_KEY": "k"}
    assert not_applicable(settings(tmp_path, REGISTER_MODE="off")) == "REGISTER_MODE=off"
    assert "CHATWOOT_BASE_URL" in not_applicable(settings(tmp_path))
    assert "CHATWOOT_AGENT_BOT_ID" in not_applicable(settings(tmp_path, **chatwoot))
    assert "set PUBLIC_URL, or NGROK_AUTH_TOKEN" in not_applicable(
        settings(tmp_path, **chatwoot, CHATWOOT_AGENT_BOT_ID="3"))
    assert not_applicable(settings(tmp_path, **chatwoot, CHATWOOT_AGENT_BOT_ID="3", PUBLIC_URL="https://x")) is None
    assert not_applicable(settings(tmp_path, **chatwoot, REGISTER_MODE="webhook", NGROK_AUTH_TOKEN="t")) is None


def test_redactor_hides_percent_encoded_forms_of_a_secret():
    redact = Redactor([TOKEN])
    line = f"raw {TOKEN} url {webhook_url('https://x', TOKEN)} plus a%2Bb%2Fc%3Dd~e%25f+g slash a%2Bb/c%3Dd~e%25f%20g"
    assert redact(line) == "raw *** url https://x/webhook?token=*** plus *** slash ***"


# -- the tunnel -------------------------------------------------------------------------
def test_tunnel_decisions_in_order(tmp_path):
    agent = tmp_path / "ngrok"
    agent.write_text("#!/bin/sh\n")
    agent.chmod(0o755)
    assert "PUBLIC_URL is set" in skip_reason(settings(tmp_path, PUBLIC_URL="https://x", NGROK_AUTH_TOKEN="t"), agent)
    assert "NGROK_AUTH_TOKEN is not set" in skip_reason(settings(tmp_path), agent)
    assert "not installed" in skip_reason(settings(tmp_path, NGROK_AUTH_TOKEN="t"), None)
    assert skip_reason(settings(tmp_path, NGROK_AUTH_TOKEN="t"), agent) is None


def test_find_agent_uses_ngrok_path_only_when_it_is_executable(tmp_path):
    agent = tmp_path / "ngrok"
    assert find_agent(settings(tmp_path, NGROK_PATH=str(agent))) is None
    agent.write_text("#!/bin/sh\n")
    assert find_agent(settings(tmp_path, NGROK_PATH=str(agent))) is None, "not executable"
    agent.chmod(0o755)
    assert find_agent(settings(tmp_path, NGROK_PATH=str(agent))) == agent


def test_agent_config_has_a_tunnel_for_the_web_port_and_the_domain(tmp_path):
    s = settings(tmp_path, NGROK_AUTH_TOKEN=TOKEN, WEBHOOK_PORT="8123", NGROK_DOMAIN="bot.ngrok.app",
                 NGROK_API_URL="http://127.0.0.1:4999")
    config = render_config(s)
    assert config["version"] == "3"
    assert config["agent"]["authtoken"] == TOKEN
    assert config["agent"]["web_addr"] == "127.0.0.1:4999" == web_addr(s)
    assert config["tunnels"] == {"chatwoot": {"proto": "http", "addr": 8123, "domain": "bot.ngrok.app"}}
    plain = render_config(settings(tmp_path, NGROK_AUTH_TOKEN=TOKEN))
    assert plain["tunnels"] == {"chatwoot": {"proto": "http", "addr": 8001}}
    assert plain["agent"]["web_addr"] == "127.0.0.1:4040"


def test_agent_config_file_is_owner_only_and_parses_back(tmp_path):
    s = settings(tmp_path, NGROK_AUTH_TOKEN=TOKEN)
    path = write_config(s)
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    assert yaml.safe_load(path.read_text()) == render_config(s)


# -- the command line -------------------------------------------------------------------
def test_register_arguments_are_bounded():
    parser = build_parser()
    args = parser.parse_args(["register"])
    assert args.watch is False and args.timeout == 120 and args.interval == 5
    assert parser.parse_args(["register", "--watch", "--interval", "0.5"]).watch is True
    for bad in (["--interval", "0"], ["--interval", "301"], ["--timeout", "0.1"], ["--interval", "x"],
                ["--once", "--watch"]):
        with pytest.raises(SystemExit):
            parser.parse_args(["register", *bad])
    assert parser.parse_args(["tunnel"]).command == "tunnel"


def test_settings_read_ngrok_path(tmp_path):
    assert settings(tmp_path).ngrok_path is None
    assert settings(tmp_path, NGROK_PATH="/opt/ngrok").ngrok_path == Path("/opt/ngrok")
