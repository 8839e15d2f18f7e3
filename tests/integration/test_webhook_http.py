"""The web program for real: `chatwootai serve` on a free port, real HTTP, real SQLite."""

import json
import sqlite3
import time
import uuid

import httpx
import pytest

from tests.support import SECRET, TOKEN, Program, base_env, fixture_event, free_port, signed_headers


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("web")
    port = free_port()
    program = Program("serve", base_env(tmp, WEBHOOK_PORT=str(port), WEBHOOK_MAX_BODY_BYTES="65536"),
                      cwd=tmp, port=port).start()
    program.tmp = tmp
    yield program
    program.stop()


def post(web, payload, *, token=TOKEN, headers=None, raw=None, delivery=None):
    body = raw if raw is not None else json.dumps(payload).encode()
    h = signed_headers(body, delivery=delivery or str(uuid.uuid4()))
    h.update(headers or {})
    params = {"token": token} if token else {}
    return httpx.post(f"{web.url}/webhook", content=body, headers=h, params=params, timeout=10)


def new_message(message_id=None, **changes):
    payload = fixture_event("message_created_incoming")
    payload["id"] = message_id or int(time.time() * 1e6) % 2_000_000_000
    payload.update(changes)
    return payload


def stored(web, **where):
    conn = sqlite3.connect(web.tmp / "data" / "chatwootai.db")
    clause = " AND ".join(f"{k} = ?" for k in where)
    rows = conn.execute(f"SELECT kind, answerable, reason FROM events WHERE {clause}", tuple(where.values())).fetchall()
    conn.close()
    return rows


def test_health(web):
    r = httpx.get(f"{web.url}/health")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


def test_ready_reports_every_check_and_is_503_without_a_worker(web):
    r = httpx.get(f"{web.url}/ready")
    body = r.json()
    assert set(body["checks"]) == {"inbox", "worker", "chatwoot", "llm", "tunnel", "knowledge"}
    assert body["checks"]["inbox"] == "ok" and body["checks"]["tunnel"] == {"public_url": None}
    # Only the web program runs here: nobody drains the inbox, so the appliance is not ready.
    assert r.status_code == 503 and body["ready"] is False
    assert body["checks"]["worker"].startswith("no heartbeat")


def test_body_over_the_limit_is_413(web):
    payload = new_message(content="x" * 70_000)
    r = post(web, payload)
    assert r.status_code == 413 and r.json() == {"error": "body too large"}


def test_metrics_count_results(web):
    post(web, new_message(), token="bad-token-0")
    assert post(web, new_message()).json() == {"status": "queued"}
    text = httpx.get(f"{web.url}/metrics").text
    assert 'chatwootai_webhooks_total{result="unauthorized"}' in text
    queued = [line for line in text.splitlines() if line.startswith('chatwootai_webhooks_total{result="queued"}')]
    assert float(queued[0].split()[-1]) >= 1
    assert "chatwootai_inbox_depth" in text


def test_secrets_never_logged(web):
    post(web, new_message(), token="wrong-token-x")
    post(web, new_message())
    log = (web.tmp / "logs" / "webhook.log").read_text()
    out = web.output()
    for secret in (SECRET, TOKEN):
        assert secret not in log and secret not in out
    assert "webhook queued" in log and "webhook rejected 401" in log


def test_message_text_not_logged_at_info(web):
    post(web, new_message(content="meu CPF é 123.456.789-00"))
    assert "123.456.789-00" not in (web.tmp / "logs" / "webhook.log").read_text()


def test_storage_failure_is_500_and_the_next_event_is_stored(web):
    # A real SQLite failure on insert (as a full disk would cause), not a mocked writer.
    conn = sqlite3.connect(web.tmp / "data" / "chatwootai.db")
    conn.execute("CREATE TRIGGER fail_insert BEFORE INSERT ON events BEGIN SELECT RAISE(ABORT, 'disk full'); END")
    conn.commit()
    try:
        payload = new_message()
        r = post(web, payload)
        assert r.status_code == 500 and r.json() == {"error": "event could not be stored"}
    finally:
        conn.execute("DROP TRIGGER fail_insert")
        conn.commit()
        conn.close()
    # Chatwoot retries a 500: the redelivery is stored, and nothing was half-written before.
    assert post(web, payload).json() == {"status": "queued"}
    assert len(stored(web, message_id=payload["id"])) == 1
