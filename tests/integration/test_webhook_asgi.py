"""`/webhook` answers that need no real socket, through Sanic's ASGI interface in this process:
the real app from create_app, the real verifier, the real SQLite inbox (its writer started and
stopped around each request, as the server's listeners do). What needs a socket — 413 on huge
bodies, connection behaviour, the program's own log file — stays in test_webhook_http.py."""

import asyncio
import json
import sqlite3
import time
import uuid

import pytest

from app.settings import Settings
from app.web.app import create_app
from tests.support import TOKEN, base_env, fixture_event, signed_headers


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("asgi")
    app = create_app(Settings.from_env(base_env(tmp, WEBHOOK_MAX_BODY_BYTES="65536")))
    app.ctx.tmp = tmp
    return app


def call(web, method: str, path: str, **kwargs):
    """One request through the ASGI interface; its response (status_code, json, text)."""
    _, response = asyncio.run(getattr(web.asgi_client, method)(path, **kwargs))
    return response


def post(web, payload, *, token=TOKEN, headers=None, raw=None, delivery=None):
    body = raw if raw is not None else json.dumps(payload).encode()
    h = signed_headers(body, delivery=delivery or str(uuid.uuid4()))
    h.update(headers or {})
    params = {"token": token} if token else {}
    return call(web, "post", "/webhook", content=body, headers=h, params=params)


def new_message(message_id=None, **changes):
    payload = fixture_event("message_created_incoming")
    payload["id"] = message_id or int(time.time() * 1e6) % 2_000_000_000
    payload.update(changes)
    return payload


def stored(web, **where):
    conn = sqlite3.connect(web.ctx.tmp / "data" / "chatwootai.db")
    clause = " AND ".join(f"{k} = ?" for k in where)
    rows = conn.execute(f"SELECT kind, answerable, reason FROM events WHERE {clause}", tuple(where.values())).fetchall()
    conn.close()
    return rows


def test_valid_message_is_queued_and_stored(web):
    payload = new_message()
    r = post(web, payload)
    assert r.status_code == 200 and r.json == {"status": "queued"}
    assert stored(web, message_id=payload["id"]) == [("message_created", 1, None)]


def test_redelivery_answered_duplicate(web):
    payload = new_message()
    delivery = str(uuid.uuid4())
    assert post(web, payload, delivery=delivery).json == {"status": "queued"}
    assert post(web, payload, delivery=delivery).json == {"status": "duplicate"}


def test_same_message_under_two_delivery_ids_is_duplicate(web):
    payload = new_message()
    assert post(web, payload).json["status"] == "queued"
    assert post(web, payload).json["status"] == "duplicate"
    assert len(stored(web, message_id=payload["id"])) == 1


def test_outgoing_message_stored_as_context_and_ignored(web):
    payload = fixture_event("message_created_outgoing_bot")
    payload["id"] = 777001
    r = post(web, payload)
    assert r.json == {"status": "ignored", "reason": "outgoing message"}
    assert stored(web, message_id=777001) == [("message_created", 0, "outgoing message")]


def test_widget_event_ignored_with_reason(web):
    r = post(web, fixture_event("webwidget_triggered"))
    assert r.status_code == 200 and r.json["status"] == "ignored"


def test_missing_signature_is_401(web):
    body = json.dumps(new_message()).encode()
    r = call(web, "post", "/webhook", content=body, params={"token": TOKEN},
             headers={"Content-Type": "application/json"})
    assert r.status_code == 401 and r.json == {"error": "unauthorized"}


def test_wrong_token_is_401_and_nothing_is_echoed(web):
    r = post(web, new_message(), token="guess-123")
    assert r.status_code == 401 and "guess-123" not in r.text


def test_token_in_bearer_header(web):
    r = post(web, new_message(), token=None, headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.json == {"status": "queued"}


def test_token_in_x_webhook_token_header(web):
    r = post(web, new_message(), token=None, headers={"X-Webhook-Token": TOKEN})
    assert r.json == {"status": "queued"}


def test_tampered_body_is_401(web):
    body = json.dumps(new_message()).encode()
    headers = signed_headers(body)
    r = call(web, "post", "/webhook", content=body.replace(b"hidratante", b"hidratantX"),
             headers=headers, params={"token": TOKEN})
    assert r.status_code == 401


def test_malformed_json_is_400(web):
    r = post(web, None, raw=b'{"event": "message_created",')
    assert r.status_code == 400 and r.json == {"error": "body is not valid JSON"}


def test_json_that_is_not_an_object_is_400(web):
    r = post(web, None, raw=b'["message_created"]')
    assert r.status_code == 400 and r.json == {"error": "body must be a JSON object"}


def test_object_that_is_not_a_chatwoot_event_is_400(web):
    r = post(web, {"hello": "world"})
    assert r.status_code == 400 and "missing 'event'" in r.json["error"]


def test_wrong_content_type_is_415(web):
    r = post(web, new_message(), headers={"Content-Type": "text/plain"})
    assert r.status_code == 415
