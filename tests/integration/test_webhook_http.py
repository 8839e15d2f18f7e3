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


def test_valid_message_is_queued_and_stored(web):
    payload = new_message()
    r = post(web, payload)
    assert r.status_code == 200 and r.json() == {"status": "queued"}
    assert stored(web, message_id=payload["id"]) == [("message_created", 1, None)]


def test_redelivery_answered_duplicate(web):
    payload = new_message()
    delivery = str(uuid.uuid4())
    assert post(web, payload, delivery=delivery).json() == {"status": "queued"}
    assert post(web, payload, delivery=delivery).json() == {"status": "duplicate"}


def test_same_message_under_two_delivery_ids_is_duplicate(web):
    payload = new_message()
    assert post(web, payload).json()["status"] == "queued"
    assert post(web, payload).json()["status"] == "duplicate"
    assert len(stored(web, message_id=payload["id"])) == 1


def test_outgoing_message_stored_as_context_and_ignored(web):
    payload = fixture_event("message_created_outgoing_bot")
    payload["id"] = 777001
    r = post(web, payload)
    assert r.json() == {"status": "ignored", "reason": "outgoing message"}
    assert stored(web, message_id=777001) == [("message_created", 0, "outgoing message")]


def test_widget_event_ignored_with_reason(web):
    r = post(web, fixture_event("webwidget_triggered"))
    assert r.status_code == 200 and r.json()["status"] == "ignored"


def test_missing_signature_is_401(web):
    body = json.dumps(new_message()).encode()
    r = httpx.post(f"{web.url}/webhook", content=body, params={"token": TOKEN},
                   headers={"Content-Type": "application/json"})
    assert r.status_code == 401 and r.json() == {"error": "unauthorized"}


def test_wrong_token_is_401_and_nothing_is_echoed(web):
    r = post(web, new_message(), token="guess-123")
    assert r.status_code == 401 and "guess-123" not in r.text


def test_token_in_bearer_header(web):
    r = post(web, new_message(), token=None, headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.json() == {"status": "queued"}


def test_token_in_x_webhook_token_header(web):
    r = post(web, new_message(), token=None, headers={"X-Webhook-Token": TOKEN})
    assert r.json() == {"status": "queued"}


def test_tampered_body_is_401(web):
    body = json.dumps(new_message()).encode()
    headers = signed_headers(body)
    r = httpx.post(f"{web.url}/webhook", content=body.replace(b"hidratante", b"hidratantX"),
                   headers=headers, params={"token": TOKEN})
    assert r.status_code == 401


def test_malformed_json_is_400(web):
    r = post(web, None, raw=b'{"event": "message_created",')
    assert r.status_code == 400 and r.json() == {"error": "body is not valid JSON"}


def test_json_that_is_not_an_object_is_400(web):
    r = post(web, None, raw=b'["message_created"]')
    assert r.status_code == 400 and r.json() == {"error": "body must be a JSON object"}


def test_object_that_is_not_a_chatwoot_event_is_400(web):
    r = post(web, {"hello": "world"})
    assert r.status_code == 400 and "missing 'event'" in r.json()["error"]


def test_wrong_content_type_is_415(web):
    r = post(web, new_message(), headers={"Content-Type": "text/plain"})
    assert r.status_code == 415


def test_body_over_the_limit_is_413(web):
    payload = new_message(content="x" * 70_000)
    r = post(web, payload)
    assert r.status_code == 413 and r.json() == {"error": "body too large"}


def test_metrics_count_results(web):
    post(web, new_message(), token="bad-token-0")
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
