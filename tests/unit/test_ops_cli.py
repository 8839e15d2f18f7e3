"""The operator tools' command line and their pure parts: help texts with examples, the log
line parser, --since, and the simulator's request handling (no processes)."""

import json
from datetime import datetime

import pytest

from app.cli import build_parser
from app.demo.chatwoot_sim import ChatwootSimulator
from app.ops.logview import parse_line, parse_since
from app.ops.payloads import message_created, signed_request
from app.settings import Settings


@pytest.mark.parametrize("command", ["doctor", "logs", "simulate", "demo"])
def test_every_operator_tool_has_help_with_an_example(command, capsys):
    with pytest.raises(SystemExit) as done:
        build_parser().parse_args([command, "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    assert "example:" in text and f"chatwootai {command}" in text.split("example:", 1)[1]


def test_text_and_json_lines_parse_to_the_same_record():
    text = parse_line("2026-12-01 14:55:42.534 INFO    [web] webhook queued delivery=d-1 conversation=77\n")
    stamp = datetime(2026, 12, 1, 14, 55, 42, 534000).astimezone()
    js = parse_line(json.dumps({"time": stamp.isoformat(), "level": "INFO", "component": "web",
                                "message": "webhook queued", "delivery": "d-1", "conversation": 77}))
    assert (text.at, text.component, text.conversation) == (js.at, js.component, js.conversation) == (
        stamp.timestamp(), "web", 77)
    assert js.text == text.text.rstrip("\n")
    assert parse_line("Traceback (most recent call last):") is None
    hub = parse_line("2026-12-01 14:55:45.050 INFO    [hub] conversation 1/124 handed off: customer asked")
    assert hub.conversation == 124


def test_since_accepts_ages_and_times_and_refuses_the_rest():
    assert parse_since("10m", now=1000.0) == 400.0 and parse_since("2h", now=10_000.0) == 2800.0
    assert parse_since("2026-12-01T14:00:00") == datetime(2026, 12, 1, 14).timestamp()
    with pytest.raises(ValueError, match="--since"):
        parse_since("last tuesday")


def test_signed_request_carries_the_signature_and_the_token():
    from app.chatwoot.signing import WebhookVerifier

    settings = Settings.from_env({"WEBHOOK_AUTH_TOKEN": "tok-123456", "CHATWOOT_WEBHOOK_SECRET": "sec-abcdef"})
    body, headers, query = signed_request(settings, message_created(account_id=1, conversation_id=2,
                                                                    message_id=3, content="oi"))
    lowered = {k.lower(): v for k, v in headers.items()}  # HTTP header names are case-insensitive
    WebhookVerifier(secrets=("sec-abcdef",), token="tok-123456").verify(body, lowered, query["token"])


def test_simulator_refuses_other_tokens_and_unknown_calls():
    sim = ChatwootSimulator("demo-token-1")
    assert sim.handle("POST", "/api/v1/accounts/1/conversations/5/messages", {"api_access_token": "x"},
                      {"content": "oi"})[0] == 401
    ok = {"api_access_token": "demo-token-1"}
    assert sim.handle("GET", "/api/v1/accounts/1/conversations/5/messages", ok, None)[0] == 404
    assert sim.handle("POST", "/api/v1/accounts/2/conversations/5/messages", ok, {"content": "oi"})[0] == 404
    status, message = sim.handle("POST", "/api/v1/accounts/1/conversations/5/messages", ok, {"content": "oi"})
    assert status == 200 and message["content"] == "oi"
    assert sim.handle("POST", "/api/v1/accounts/1/conversations/5/labels", ok, {"labels": ["a", "a", "b"]}) == (
        200, {"payload": ["a", "b"]})
    assert sim.handle("POST", "/api/v1/accounts/1/conversations/5/toggle_status", ok, {"status": "open"})[0] == 200
    assert sim.conversation(5).status == "open"
    kinds = [sim.events.get_nowait().kind for _ in range(3)]
    assert kinds == ["message", "labels", "status"]
    sim.stop()


def test_directory_check_of_two_programs_starting_together_never_trips_over_the_other(tmp_path):
    """web and worker start at the same moment (supervisord, demo): each probes DATA_DIR and
    LOG_DIR with a file of its own, so one never unlinks the other's probe."""
    import subprocess
    import sys

    code = ("from app.settings import Settings, check_directories\n"
            "s = Settings.from_env({{'WEBHOOK_AUTH_TOKEN': 'tok-123456', 'DATA_DIR': {!r}, 'LOG_DIR': {!r}}})\n"
            "for _ in range(300):\n    check_directories(s)\n").format(str(tmp_path / "d"), str(tmp_path / "l"))
    procs = [subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True) for _ in range(4)]
    errors = [p.communicate(timeout=60)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], errors
