"""`chatwootai doctor` against the real programs: the web and worker processes, the Chatwoot fake
and the LLM fake over loopback, and a stand-in ngrok agent API."""

import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.fakes.llm import FakeLLM
from tests.integration.conftest import ADMIN_TOKEN, BOT_TOKEN
from tests.secret_scan import remember_secret
from tests.support import SECRET, TOKEN, base_env, free_port

LLM_KEY = "sk-doctor-llm-key-5e6f7a8b"
NGROK_TOKEN = "ngrok-doctor-token-1a2b3c4d"
WRONG_KEY = "wrong-bot-key-9z8y7x"
# Given to doctor only (not through Program): the end-of-run scan must look for them too.
for _name, _value in (("LLM_API_KEY", LLM_KEY), ("NGROK_AUTH_TOKEN", NGROK_TOKEN), ("CHATWOOT_API_KEY", WRONG_KEY)):
    remember_secret(_name, _value)


@pytest.fixture
def llm():
    with FakeLLM() as fake:
        yield fake


def run_doctor(env: dict, cwd, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "app.cli", "doctor", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=180)


def doctor_env(app, **extra) -> dict:
    env = dict(app.web.env)
    env.update(PUBLIC_URL=app.web.url, WEBHOOK_USE_HTTPS="false")
    env.update(extra)
    return env


def rows(result) -> dict[str, dict]:
    return {r["name"]: r for r in json.loads(result.stdout)["checks"]}


def assert_no_secret(texts, secrets):
    for text in texts:
        for secret in secrets:
            assert secret not in text, f"a configured secret leaked: {secret[:4]}…"


def test_doctor_all_up_exits_0_and_every_configured_row_passes(appliance, llm, tmp_path):
    app = appliance(LLM_MODEL="fake-model", LLM_BASE_URL=llm.base_url, LLM_API_KEY=LLM_KEY, LLM_TIMEOUT_S="20")
    calls_before = len(llm.calls)
    result = run_doctor(doctor_env(app), app.tmp, "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    by_name = rows(result)
    configured = {name for name, r in by_name.items() if r["status"] != "skip"}
    assert {"configuration", "web /health", "web /ready", "worker heartbeat", "knowledge", "LLM",
            "Chatwoot bot token", "Chatwoot admin token", "public URL round trip"} <= configured
    assert all(by_name[name]["status"] == "ok" for name in configured), by_name
    assert "20 products" in by_name["knowledge"]["detail"]
    assert len(llm.calls) == calls_before + 1  # the LLM row: one tiny request
    assert "ignored" in by_name["public URL round trip"]["detail"]
    table = run_doctor(doctor_env(app), app.tmp)
    assert table.returncode == 0 and "✓ Chatwoot bot token" in table.stdout and "✗" not in table.stdout
    assert "\x1b[" not in table.stdout  # not a terminal: no colours
    log = (app.tmp / "logs" / "webhook_test.log").read_text()
    assert log.count("doctor: OK") == 2


def test_doctor_round_trip_is_ignored_and_answers_nothing(appliance, chatwoot):
    app = appliance()
    result = run_doctor(doctor_env(app), app.tmp, "--json")
    assert rows(result)["public URL round trip"]["status"] == "ok"
    app.settle(1.0)
    # The test event was not answered: doctor's own reads (the token checks) are all Chatwoot got.
    assert [r.method for r in chatwoot.requests] == ["GET", "GET"]
    assert "webhook ignored: event chatwootai_doctor_" in (app.tmp / "logs" / "webhook.log").read_text()


def test_doctor_with_chatwoot_down_exits_1_naming_chatwoot(appliance, chatwoot):
    app = appliance()
    chatwoot.stop()
    result = run_doctor(doctor_env(app), app.tmp)
    assert result.returncode == 1
    assert "✗ Chatwoot bot token" in result.stdout and "Chatwoot unreachable" in result.stdout
    assert "fix: check CHATWOOT_BASE_URL and that Chatwoot is up" in result.stdout


def test_doctor_with_a_wrong_api_key_fails_the_credentials_row_with_the_fix(appliance):
    app = appliance()
    result = run_doctor(doctor_env(app, CHATWOOT_API_KEY=WRONG_KEY), app.tmp, "--json")
    assert result.returncode == 1
    by_name = rows(result)
    bot = by_name["Chatwoot bot token"]
    assert bot["status"] == "fail" and "401" in bot["detail"]
    assert "CHATWOOT_API_KEY is wrong or revoked" in bot["fix"]
    assert by_name["Chatwoot admin token"]["status"] == "ok"
    admin = rows(run_doctor(doctor_env(app, CHATWOOT_ADMIN_API_KEY=WRONG_KEY), app.tmp, "--json"))
    assert admin["Chatwoot admin token"]["status"] == "fail"
    assert "CHATWOOT_ADMIN_API_KEY" in admin["Chatwoot admin token"]["fix"]


def test_no_configured_secret_in_any_doctor_output_or_in_webhook_test_log(appliance):
    app = appliance()
    secrets = (TOKEN, SECRET, BOT_TOKEN, ADMIN_TOKEN, NGROK_TOKEN, WRONG_KEY, LLM_KEY)
    failing = {"CHATWOOT_API_KEY": WRONG_KEY, "NGROK_AUTH_TOKEN": NGROK_TOKEN,
               # an LLM that is down: its error text is quoted in the row
               "LLM_MODEL": "fake-model", "LLM_BASE_URL": f"http://127.0.0.1:{free_port()}/v1",
               "LLM_API_KEY": LLM_KEY, "LLM_TIMEOUT_S": "3"}
    outputs = []
    for extra, args in (({}, ()), (failing, ()), (failing, ("--json",))):
        result = run_doctor(doctor_env(app, **extra), app.tmp, *args)
        outputs += [result.stdout, result.stderr]
    assert any("✗ LLM" in o for o in outputs)
    assert_no_secret([*outputs, (app.tmp / "logs" / "webhook_test.log").read_text()], secrets)


def test_doctor_without_the_programs_fails_web_and_worker_rows(tmp_path):
    env = dict(base_env(tmp_path, WEBHOOK_PORT=str(free_port())))
    env.update({k: v for k, v in __import__("os").environ.items() if k in ("PATH", "HOME")})
    result = run_doctor(env, tmp_path, "--json")
    assert result.returncode == 1
    by_name = rows(result)
    assert by_name["web /health"]["status"] == "fail" and "chatwootai serve" in by_name["web /health"]["fix"]
    assert by_name["worker heartbeat"]["status"] == "fail" and "chatwootai worker" in by_name["worker heartbeat"]["fix"]
    assert by_name["Chatwoot bot token"]["status"] == "skip"
    assert (tmp_path / "logs" / "webhook_test.log").read_text().count("doctor: FAIL") == 1


def test_doctor_invalid_configuration_is_a_failed_row_naming_the_variable(tmp_path):
    env = {"PATH": __import__("os").environ["PATH"], "DATA_DIR": str(tmp_path / "d"), "LOG_DIR": str(tmp_path / "l"),
           "WEBHOOK_PORT": "not-a-port", "WEBHOOK_AUTH_TOKEN": TOKEN}
    result = run_doctor(env, tmp_path)
    assert result.returncode == 1
    assert "✗ configuration" in result.stdout and "WEBHOOK_PORT" in result.stdout and "fix:" in result.stdout


class _NgrokAgent:
    """The ngrok agent's local API (`GET /api/tunnels`), answering a fixed tunnel list."""

    def __init__(self, tunnels):
        tunnels_json = json.dumps({"tunnels": tunnels, "uri": "/api/tunnels"}).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                status, body = (200, tunnels_json) if self.path == "/api/tunnels" else (404, b"{}")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_doctor_ngrok_row_finds_the_https_tunnel_to_the_web_port(appliance):
    app = appliance()
    port = app.web.port
    agent = _NgrokAgent([
        {"name": "other", "public_url": "https://other.ngrok.app", "proto": "https", "config": {"addr": "http://localhost:9999"}},
        {"name": "chatwoot", "public_url": "https://abc.ngrok.app", "proto": "https",
         "config": {"addr": f"http://localhost:{port}"}},
    ])
    try:
        ok = rows(run_doctor(doctor_env(app, NGROK_AUTH_TOKEN=NGROK_TOKEN, NGROK_API_URL=agent.url), app.tmp, "--json"))
    finally:
        agent.close()
    assert ok["ngrok tunnel"]["status"] == "ok" and "https://abc.ngrok.app" in ok["ngrok tunnel"]["detail"]
    missing = _NgrokAgent([{"name": "x", "public_url": "http://abc.ngrok.app", "proto": "http",
                            "config": {"addr": f"http://localhost:{port}"}}])
    try:
        bad = rows(run_doctor(doctor_env(app, NGROK_AUTH_TOKEN=NGROK_TOKEN, NGROK_API_URL=missing.url), app.tmp,
                              "--json"))
    finally:
        missing.close()
    assert bad["ngrok tunnel"]["status"] == "fail" and f"port {port}" in bad["ngrok tunnel"]["fix"]
    down = rows(run_doctor(doctor_env(app, NGROK_AUTH_TOKEN=NGROK_TOKEN,
                                      NGROK_API_URL=f"http://127.0.0.1:{free_port()}"), app.tmp, "--json"))
    assert down["ngrok tunnel"]["status"] == "fail" and "supervisorctl status ngrok" in down["ngrok tunnel"]["fix"]


def test_doctor_public_url_that_reaches_nothing_fails_the_round_trip(appliance):
    app = appliance()
    by_name = rows(run_doctor(doctor_env(app, PUBLIC_URL=f"http://127.0.0.1:{free_port()}"), app.tmp, "--json"))
    trip = by_name["public URL round trip"]
    assert trip["status"] == "fail" and "tunnel or the proxy" in trip["fix"]


FAKE_SSH = """#!/bin/sh
# Stands in for ssh on PATH: records its arguments, answers like a VPS with one proxy container.
printf '%s\\n' "$*" >> "{record}"
case "$*" in
  *unreachable.example*) echo "ssh: connect to host unreachable.example port 22: Connection refused" >&2; exit 255;;
  *"docker inspect"*chatwoot-proxy*) echo running;;
  *"docker inspect"*) echo "Error: No such object: $(echo "$*" | sed 's/.* //')" >&2; exit 1;;
  *" true") exit 0;;
esac
"""


def test_doctor_vps_and_proxy_rows_over_ssh(appliance, tmp_path):
    app = appliance()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "ssh-args.txt"
    ssh = bin_dir / "ssh"
    ssh.write_text(FAKE_SSH.format(record=record))
    ssh.chmod(0o755)
    key = tmp_path / "id_ed25519"
    key.write_text("not a real key\n")

    def doctor(**env):
        e = doctor_env(app, VPS_USER="deploy", VPS_SSH_KEY_FILE=str(key), **env)
        e["PATH"] = f"{bin_dir}:{e['PATH']}"
        return rows(run_doctor(e, app.tmp, "--json"))

    ok = doctor(VPS_HOST="vps.example", VPS_PORT="2222", PROXY_CONTAINER_NAME="chatwoot-proxy")
    assert ok["VPS over SSH"]["status"] == "ok" and ok["proxy container"]["status"] == "ok"
    assert "chatwoot-proxy is running" in ok["proxy container"]["detail"]
    calls = record.read_text().splitlines()
    assert any("-p 2222" in c and f"-i {key}" in c and "deploy@vps.example" in c for c in calls)
    missing = doctor(VPS_HOST="vps.example", PROXY_CONTAINER_NAME="other-proxy")
    assert missing["proxy container"]["status"] == "fail" and "PROXY_CONTAINER_NAME" in missing["proxy container"]["fix"]
    down = doctor(VPS_HOST="unreachable.example", PROXY_CONTAINER_NAME="chatwoot-proxy")
    assert down["VPS over SSH"]["status"] == "fail" and "Connection refused" in down["VPS over SSH"]["detail"]
    assert down["proxy container"]["status"] == "fail" and "fix the VPS row first" in down["proxy container"]["fix"]
    unset = rows(run_doctor(doctor_env(app), app.tmp, "--json"))
    assert unset["VPS over SSH"]["status"] == "skip" and unset["proxy container"]["status"] == "skip"


def test_doctor_registered_url_row_compares_chatwoot_with_the_public_url(appliance, chatwoot):
    from urllib.parse import quote

    app = appliance()
    env = {"REGISTER_MODE": "agent_bot", "CHATWOOT_AGENT_BOT_ID": "5"}
    chatwoot.add_agent_bot(5, outgoing_url=f"{app.web.url}/webhook?token={quote(TOKEN, safe='')}")
    ok = rows(run_doctor(doctor_env(app, **env), app.tmp, "--json"))["registered URL"]
    assert ok["status"] == "ok" and f"{app.web.url}/webhook" in ok["detail"]
    chatwoot.add_agent_bot(5, outgoing_url=f"https://old.ngrok.app/webhook?token={quote(TOKEN, safe='')}")
    moved = run_doctor(doctor_env(app, **env), app.tmp, "--json")
    row = rows(moved)["registered URL"]
    assert moved.returncode == 1 and row["status"] == "fail"
    assert "https://old.ngrok.app/webhook" in row["detail"] and "chatwootai register --once" in row["fix"]
    assert TOKEN not in moved.stdout
    chatwoot.add_agent_bot(5, outgoing_url=f"{app.web.url}/webhook?token=an-older-token")
    stale = rows(run_doctor(doctor_env(app, **env), app.tmp, "--json"))["registered URL"]
    assert stale["status"] == "fail" and "another webhook token" in stale["detail"]
    off = rows(run_doctor(doctor_env(app, REGISTER_MODE="off"), app.tmp, "--json"))["registered URL"]
    assert off["status"] == "skip"
