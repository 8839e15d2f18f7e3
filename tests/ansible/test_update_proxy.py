"""ansible/update_proxy.yml against a real proxy container on this machine (issue 10)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from tests.ansible.helpers import OLD_URL, PROXY_FILE, run_playbook
from tests.support import Program, base_env, free_port

pytestmark = [pytest.mark.ansible, pytest.mark.slow]

NEW_URL = "https://new-tunnel.example.test"


def proxy_env(proxy, **extra: str) -> dict[str, str]:
    return {"PROXY_CONTAINER_NAME": proxy.name, "PROXY_FILE_PATH": PROXY_FILE, **extra}


class Listener:
    """A real HTTP server standing in for the appliance's public URL; records what reaches it."""

    def __init__(self):
        self.received: list[dict] = []
        received = self.received

        class Record(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                received.append({"path": self.path, "body": body, "headers": dict(self.headers)})
                answer = b'{"status":"queued"}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Record)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def listeners():
    made: list[Listener] = []

    def make() -> Listener:
        made.append(Listener())
        return made[-1]

    yield make
    for listener in made:
        listener.close()


def test_first_run_rewrites_the_url_and_restarts_the_proxy(proxy):
    started = proxy.state()["StartedAt"]
    # As an operator types it from the checkout: no ansible.cfg, no inventory.
    run = run_playbook("-e", f"public_url={NEW_URL}", "-e", f"proxy_update_check_url={proxy.url}/__proxy__",
                       config=False, **proxy_env(proxy))
    assert run.returncode == 0, run
    assert run.changed and run.changed >= 2, run  # file written and container restarted
    assert f'UPSTREAM_URL = "{NEW_URL}"' in proxy.file()
    state = proxy.state()
    assert state["Running"] and state["StartedAt"] != started
    assert proxy.wait_answering() == NEW_URL  # the restarted proxy forwards to the new URL


def test_webhook_sent_to_the_proxy_reaches_the_listener_at_the_new_url(proxy, listeners):
    old, new = listeners(), listeners()
    # Point the proxy at the "old" appliance first, then move it to the new one.
    first = run_playbook("-e", f"public_url={old.url}", **proxy_env(proxy, WEBHOOK_USE_HTTPS="false"))
    assert first.returncode == 0, first
    assert proxy.wait_answering() == old.url
    run = run_playbook("-e", f"public_url={new.url}", **proxy_env(proxy, WEBHOOK_USE_HTTPS="false"))
    assert run.returncode == 0, run
    assert proxy.wait_answering() == new.url
    body = json.dumps({"event": "message_created", "id": 4242}).encode()
    answer = httpx.post(f"{proxy.url}/webhook?token=tok-ansible", content=body,
                        headers={"Content-Type": "application/json"}, timeout=10)
    assert answer.status_code == 200 and answer.json() == {"status": "queued"}
    assert [(r["path"], r["body"]) for r in new.received] == [("/webhook?token=tok-ansible", body)]
    assert old.received == []


def test_second_run_reports_no_change_and_does_not_restart(proxy):
    assert run_playbook("-e", f"public_url={NEW_URL}", **proxy_env(proxy)).returncode == 0
    started = proxy.state()["StartedAt"]
    run = run_playbook("-e", f"public_url={NEW_URL}", **proxy_env(proxy))
    assert run.returncode == 0, run
    assert run.changed == 0, run
    assert "RUNNING HANDLER" not in run.output
    assert proxy.state()["StartedAt"] == started


def test_check_diff_shows_the_change_and_touches_nothing(proxy):
    started = proxy.state()["StartedAt"]
    run = run_playbook("-e", f"public_url={NEW_URL}", "--check", "--diff", **proxy_env(proxy))
    assert run.returncode == 0, run
    assert f'-UPSTREAM_URL = "{OLD_URL}"' in run.output, run
    assert f'+UPSTREAM_URL = "{NEW_URL}"' in run.output, run
    assert f'UPSTREAM_URL = "{OLD_URL}"' in proxy.file()
    assert proxy.state()["StartedAt"] == started
    assert proxy.wait_answering() == OLD_URL


def test_missing_container_fails_with_its_message(proxy):
    run = run_playbook("-e", f"public_url={NEW_URL}", **proxy_env(proxy, PROXY_CONTAINER_NAME="ansible-no-such-proxy"))
    assert run.returncode != 0
    assert "proxy container 'ansible-no-such-proxy' not found" in run.output, run
    assert "check PROXY_CONTAINER_NAME" in run.output


def test_stopped_container_fails_with_its_message(proxy):
    from tests.ansible.helpers import docker

    docker("stop", "-t", "1", proxy.name)
    run = run_playbook("-e", f"public_url={NEW_URL}", **proxy_env(proxy))
    assert run.returncode != 0
    assert f"proxy container '{proxy.name}' is not running (status: exited)" in run.output, run
    assert proxy.state()["Running"] is False  # the playbook does not start it behind the operator's back


def test_missing_file_fails_with_its_message(proxy):
    run = run_playbook("-e", f"public_url={NEW_URL}", **proxy_env(proxy, PROXY_FILE_PATH="/srv/proxy/nope.conf"))
    assert run.returncode != 0
    assert f"file /srv/proxy/nope.conf not found in proxy container '{proxy.name}'" in run.output, run
    assert "check PROXY_FILE_PATH" in run.output


def test_pattern_that_matches_nothing_fails_with_its_message(proxy):
    started = proxy.state()["StartedAt"]
    run = run_playbook("-e", f"public_url={NEW_URL}", "-e", "proxy_update_pattern=wss://[a-z.]+", **proxy_env(proxy))
    assert run.returncode != 0
    assert f"the pattern wss://[a-z.]+ matches nothing in {PROXY_FILE}" in run.output, run
    assert proxy.state()["StartedAt"] == started


def test_http_url_is_refused_when_https_is_required(proxy):
    run = run_playbook("-e", "public_url=http://plain.example.test", **proxy_env(proxy))  # WEBHOOK_USE_HTTPS unset
    assert run.returncode != 0
    assert "public URL http://plain.example.test is not https and WEBHOOK_USE_HTTPS is true" in run.output, run
    assert f'UPSTREAM_URL = "{OLD_URL}"' in proxy.file()
    explicit = run_playbook("-e", "public_url=http://plain.example.test", **proxy_env(proxy, WEBHOOK_USE_HTTPS="true"))
    assert explicit.returncode != 0 and "is not https" in explicit.output


def test_url_comes_from_public_url_when_not_given(proxy):
    run = run_playbook(**proxy_env(proxy, PUBLIC_URL="https://from-env.example.test"))
    assert run.returncode == 0, run
    assert proxy.wait_answering() == "https://from-env.example.test"


def test_url_comes_from_the_appliance_ready_endpoint_when_nothing_else_says(proxy, tmp_path):
    port = free_port()
    appliance = Program("serve", base_env(tmp_path, WEBHOOK_PORT=str(port), PUBLIC_URL="https://from-ready.example.test"),
                        cwd=tmp_path, port=port)
    appliance.start()
    try:
        run = run_playbook(**proxy_env(proxy, WEBHOOK_PORT=str(port)))
    finally:
        appliance.stop()
    assert run.returncode == 0, run
    assert proxy.wait_answering() == "https://from-ready.example.test"


def test_no_public_url_anywhere_fails_with_its_message(proxy):
    port = free_port()  # nothing listens there
    run = run_playbook(**proxy_env(proxy, WEBHOOK_PORT=str(port)))
    assert run.returncode != 0
    assert "no public URL: pass -e public_url=" in run.output, run
    assert f"http://127.0.0.1:{port}/ready did not answer" in run.output


def test_check_url_that_never_answers_fails_the_run(proxy):
    silent = f"http://127.0.0.1:{free_port()}/"  # nothing listens there
    run = run_playbook("-e", f"public_url={NEW_URL}", "-e", f"proxy_update_check_url={silent}",
                       "-e", "proxy_update_wait_timeout=4", **proxy_env(proxy))
    assert run.returncode != 0
    assert f"was restarted with the new URL but {silent} did not answer within 4 s" in run.output, run
