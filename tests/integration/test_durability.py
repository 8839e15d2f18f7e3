"""An accepted event survives SIGKILL; start-up refuses a configuration without authentication;
JSON logs are JSON."""

import json
import sqlite3
import subprocess
import sys
import uuid

import httpx

from tests.support import TOKEN, Program, base_env, fixture_event, free_port, signed_headers


def test_accepted_event_survives_sigkill_and_restart(tmp_path):
    port = free_port()
    env = base_env(tmp_path, WEBHOOK_PORT=str(port))
    web = Program("serve", env, cwd=tmp_path, port=port).start()
    accepted = []
    try:
        for i in range(25):
            payload = fixture_event("message_created_incoming")
            payload["id"] = 50_000 + i
            body = json.dumps(payload).encode()
            r = httpx.post(f"{web.url}/webhook", content=body, params={"token": TOKEN},
                           headers=signed_headers(body, delivery=str(uuid.uuid4())))
            assert r.json() == {"status": "queued"}
            accepted.append(payload["id"])
        web.kill()  # SIGKILL: no shutdown hook runs
        assert web.proc.returncode == -9
        restarted = Program("serve", env, cwd=tmp_path, port=port).start()
        try:
            conn = sqlite3.connect(tmp_path / "data" / "chatwootai.db")
            ids = [row[0] for row in conn.execute("SELECT message_id FROM events ORDER BY id")]
            conn.close()
            assert ids == accepted
            # And the restarted server still knows them: a redelivery is a duplicate.
            body = json.dumps({**fixture_event("message_created_incoming"), "id": accepted[0]}).encode()
            r = httpx.post(f"{restarted.url}/webhook", content=body, params={"token": TOKEN},
                           headers=signed_headers(body, delivery=str(uuid.uuid4())))
            assert r.json() == {"status": "duplicate"}
        finally:
            restarted.stop()
    finally:
        web.stop()


def test_no_mechanism_configured_start_refused(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "DATA_DIR": str(tmp_path / "d")}
    proc = subprocess.run([sys.executable, "-m", "app.cli", "serve"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.startswith("chatwootai: configuration error: WEBHOOK_AUTH_TOKEN:")
    assert "Traceback" not in proc.stderr


def test_json_log_format(tmp_path):
    port = free_port()
    web = Program("serve", base_env(tmp_path, WEBHOOK_PORT=str(port), LOG_FORMAT="json"),
                  cwd=tmp_path, port=port).start()
    try:
        body = json.dumps(fixture_event("message_created_incoming")).encode()
        httpx.post(f"{web.url}/webhook", content=body, params={"token": TOKEN},
                   headers=signed_headers(body, delivery="d-1"))
    finally:
        web.stop()
    lines = [json.loads(line) for line in (tmp_path / "logs" / "webhook.log").read_text().splitlines()]
    queued = [line for line in lines if line["message"] == "webhook queued"]
    assert queued and queued[0]["component"] == "web" and queued[0]["delivery"] == "d-1"
    assert queued[0]["conversation"] == 1234 and queued[0]["level"] == "INFO"


def test_unauthenticated_mode_warns_at_start(tmp_path):
    port = free_port()
    env = base_env(tmp_path, WEBHOOK_PORT=str(port), WEBHOOK_ALLOW_UNAUTHENTICATED="true")
    env.update(CHATWOOT_WEBHOOK_SECRET="", WEBHOOK_AUTH_TOKEN="")
    web = Program("serve", env, cwd=tmp_path, port=port).start()
    try:
        body = json.dumps(fixture_event("message_created_incoming")).encode()
        r = httpx.post(f"{web.url}/webhook", content=body, headers={"Content-Type": "application/json"})
        assert r.json() == {"status": "queued"}
    finally:
        web.stop()
    assert "WEBHOOK_ALLOW_UNAUTHENTICATED=true" in (tmp_path / "logs" / "webhook.log").read_text()
