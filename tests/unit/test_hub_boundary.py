"""The worker's side of the hub: a typed boundary and a handoff composed as data (no socket)."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

import app.worker
from app.chatwoot.policy import Handoff, compose_handoff
from app.hub.hub import Hub
from app.hub.types import HubService

WORKER = Path(app.worker.__file__).parent


def _protocol_members() -> list[str]:
    return [name for name in vars(HubService) if not name.startswith("_") and callable(getattr(HubService, name))]


def test_hub_meets_the_protocol_member_by_member():
    members = _protocol_members()
    assert set(members) == {"decide", "business_hours", "refresh_knowledge", "close"}
    for name in members:
        wanted, actual = inspect.signature(getattr(HubService, name)), inspect.signature(getattr(Hub, name))
        assert list(actual.parameters.values()) == list(wanted.parameters.values()), name
        assert actual.return_annotation == wanted.return_annotation, name
        assert inspect.iscoroutinefunction(getattr(Hub, name)) == inspect.iscoroutinefunction(
            getattr(HubService, name)), name


def test_the_worker_reaches_the_hub_only_through_the_protocol():
    """No getattr on the hub, no reaching into hub.dataproxy, no import of app.hub.hub at module
    level (the one lazy import builds the default hub)."""
    offenders = []
    for path in WORKER.glob("*.py"):
        source = path.read_text(encoding="utf-8")
        if "dataproxy" in source:
            offenders.append(f"{path.name}: dataproxy")
        for node in ast.walk(ast.parse(source)):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr"
                    and "hub" in ast.unparse(node.args[0])):
                offenders.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
    assert offenders == []


def _summary(handoff: Handoff) -> list[tuple[str, str, str]]:
    return [(r.method, r.path.removeprefix("/api/v1/accounts/3/conversations/9"), r.purpose) for r in handoff.requests]


def test_a_handoff_is_message_note_labels_team_and_open_in_that_order():
    handoff = compose_handoff(3, 9, message="Um instante", note="Reason: asked", labels=("vip", "ai-handoff"),
                              handoff_label="ai-handoff", team_id=4)
    assert _summary(handoff) == [
        ("POST", "/messages", "handoff_message"),
        ("POST", "/messages", "note"),
        ("POST", "/labels", "labels"),
        ("POST", "/assignments", "assign_team"),
        ("POST", "/toggle_status", "status_open"),
    ]
    message, note, labels, team, status = handoff.requests
    assert message.json == {"content": "Um instante", "message_type": "outgoing", "private": False,
                            "content_type": "text"}
    assert note.json == {"content": "Reason: asked", "message_type": "outgoing", "private": True,
                         "content_type": "text"}
    assert labels.json == {"labels": ["vip", "ai-handoff"]} and handoff.labels == ("vip", "ai-handoff")
    assert team.json == {"team_id": 4} and status.json == {"status": "open"}


def test_a_handoff_without_a_team_adds_the_label_once_and_skips_the_assignment():
    handoff = compose_handoff(3, 9, message="m", note="n", labels=("vip",), handoff_label="ai-handoff")
    assert [p for _, p, _ in _summary(handoff)] == ["/messages", "/messages", "/labels", "/toggle_status"]
    assert handoff.labels == ("vip", "ai-handoff")


def test_a_handoff_refuses_a_bad_label_before_anything_is_queued():
    with pytest.raises(ValueError, match="non-empty"):
        compose_handoff(3, 9, message="m", note="n", labels=(), handoff_label=" ")
