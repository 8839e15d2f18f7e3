"""The Chatwoot fake itself: state, auth, swagger checks, faults, recording, and running it as a
separate program. Raw httpx so each test controls exactly what is sent."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from app.chatwoot import api
from tests.fakes.chatwoot import ChatwootFake, Fault, checked_fake

ROOT = Path(__file__).resolve().parents[2]
ADMIN = {"api_access_token": "admin-token"}
BOT = {"api_access_token": "bot-token"}


@pytest.fixture
def fake():
    with checked_fake() as fake:
        yield fake


@pytest.fixture
def unchecked():
    """For tests that send bad requests on purpose and inspect the violations themselves."""
    with ChatwootFake() as fake:
        yield fake


def call(fake: ChatwootFake, request: api.Request, headers=BOT) -> httpx.Response:
    return httpx.request(request.method, fake.url + request.path, json=request.json, headers=headers)


def test_conversation_state_follows_the_calls(fake):
    assert call(fake, api.toggle_typing(1, 7, True)).status_code == 200
    first = call(fake, api.create_message(1, 7, "Olá")).json()
    second = call(fake, api.create_message(1, 7, "nota", private=True)).json()
    assert second["id"] == first["id"] + 1
    assert call(fake, api.set_labels(1, 7, ["vip"])).json() == {"payload": ["vip"]}
    assert call(fake, api.set_labels(1, 7, ["handoff"])).json() == {"payload": ["handoff"]}  # replaces
    assert call(fake, api.assign_team(1, 7, 4)).status_code == 200
    status = call(fake, api.toggle_status(1, 7, "open")).json()
    assert status == {
        "meta": {},
        "payload": {"success": True, "current_status": "open", "conversation_id": 7},
    }
    conv = fake.conversation(7)
    assert (conv["status"], conv["labels"], conv["team_id"], conv["typing"]) == ("open", ["handoff"], 4, "on")
    assert [m["private"] for m in fake.messages(7)] == [False, True]
    assert len(fake.requests_for(7)) == 7 and fake.requests_for(8) == []


def test_unknown_conversation_is_404_when_not_auto_created():
    with checked_fake(auto_create_conversations=False) as fake:
        fake.add_conversation(7, status="pending")
        assert call(fake, api.create_message(1, 8, "x")).json() == {"error": "Resource could not be found"}
        assert call(fake, api.create_message(1, 7, "x")).status_code == 200


def test_registration_state(fake):
    fake.add_agent_bot(3, outgoing_url="https://old.ngrok.app/webhook")
    bot = call(fake, api.update_agent_bot(1, 3, outgoing_url="https://new.ngrok.app/webhook"), ADMIN).json()
    assert bot["outgoing_url"] == "https://new.ngrok.app/webhook"
    assert (
        call(fake, api.get_agent_bot(1, 3), ADMIN).json()["outgoing_url"] == "https://new.ngrok.app/webhook"
    )
    assert call(fake, api.get_agent_bot(1, 99), ADMIN).status_code == 404
    created = call(
        fake, api.create_webhook(1, "https://a.example/webhook", ["message_created"]), ADMIN
    ).json()
    hook_id = created["payload"]["webhook"]["id"]
    call(fake, api.update_webhook(1, hook_id, "https://b.example/webhook", ["message_created"]), ADMIN)
    listed = call(fake, api.list_webhooks(1), ADMIN).json()["payload"]["webhooks"]
    assert [h["url"] for h in listed] == ["https://b.example/webhook"]
    assert call(fake, api.get_profile(), ADMIN).json()["accounts"][0]["id"] == 1


def test_tokens_are_checked(fake):
    assert call(fake, api.create_message(1, 7, "x"), {"api_access_token": "nope"}).json() == {
        "error": "Invalid Access Token"
    }
    assert call(fake, api.create_message(1, 7, "x"), {}).status_code == 401
    refused = call(fake, api.get_profile(), BOT)
    assert refused.status_code == 401 and "not authorized for bots" in refused.json()["error"]
    assert call(fake, api.list_webhooks(1), BOT).status_code == 401
    assert call(fake, api.create_message(2, 7, "x")).status_code == 404  # another account


def test_older_servers_refuse_labels_to_bots():
    with checked_fake(bot_can_label=False) as fake:
        assert call(fake, api.set_labels(1, 7, ["x"]), BOT).status_code == 401
        assert call(fake, api.set_labels(1, 7, ["x"]), ADMIN).status_code == 200


def test_swagger_violations_are_recorded_and_answered(unchecked):
    bad = httpx.post(
        unchecked.url + "/api/v1/accounts/1/conversations/7/messages", json={"text": "x"}, headers=BOT
    )
    assert bad.status_code == 422 and "content" in bad.json()["message"]
    unknown = httpx.post(unchecked.url + "/api/v1/accounts/1/conversations/7/reply", json={}, headers=BOT)
    assert unknown.status_code == 404 and unknown.json() == {"error": "Resource could not be found"}
    not_json = httpx.post(
        unchecked.url + "/api/v1/accounts/1/conversations/7/toggle_status",
        content=b"status=open",
        headers=BOT,
    )
    assert not_json.status_code == 422
    assert len(unchecked.violations) == 4  # missing content + unknown "text", unknown path, not JSON
    assert any("unknown property 'text'" in v for v in unchecked.violations)
    assert unchecked.messages(7) == []
    with pytest.raises(AssertionError, match="departed from Chatwoot's swagger"):
        unchecked.assert_no_violations()


def test_queued_faults_are_consumed_in_order(fake):
    fake.fault("POST", r"/toggle_status$", Fault.error(503), Fault.error(429, retry_after=1))
    answers = [call(fake, api.toggle_status(1, 7, "open")) for _ in range(3)]
    assert [a.status_code for a in answers] == [503, 429, 200]
    assert answers[1].headers["Retry-After"] == "1"
    assert call(fake, api.create_message(1, 7, "x")).status_code == 200  # other paths untouched
    assert [r.status for r in fake.requests] == [503, 429, 200, 200]


def test_latency_and_hang(fake):
    fake.fault("*", r"/messages$", Fault.slow(0.3), Fault.hang_up())
    started = time.monotonic()
    assert call(fake, api.create_message(1, 7, "x")).status_code == 200
    assert time.monotonic() - started >= 0.3
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            fake.url + api.create_message(1, 7, "y").path, json={"content": "y"}, headers=BOT, timeout=0.3
        )
    assert len(fake.messages(7)) == 1


def test_wait_for_sees_requests_from_other_threads(fake):
    threading.Timer(0.2, lambda: call(fake, api.create_message(1, 9, "later"))).start()
    found = fake.wait_for(lambda reqs: [r for r in reqs if r.path.endswith("/9/messages")], timeout=5)
    assert found[0].json["content"] == "later"
    with pytest.raises(TimeoutError):
        fake.wait_for(lambda reqs: False, timeout=0.1)


def test_runs_as_a_separate_program_and_records_json_lines(tmp_path):
    record = tmp_path / "requests.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.chatwoot", "--port", "0", "--record", str(record)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("LISTENING http://127.0.0.1:")
        url = line.split(" ", 1)[1]
        reply = api.create_message(1, 7, "Olá")
        assert httpx.post(url + reply.path, json=reply.json, headers=BOT).status_code == 200
    finally:
        proc.terminate()
        assert proc.wait(10) == 0  # no violations
    [entry] = [json.loads(x) for x in record.read_text().splitlines()]
    assert entry["method"] == "POST" and entry["path"] == reply.path
    assert entry["json"] == reply.json and entry["status"] == 200
