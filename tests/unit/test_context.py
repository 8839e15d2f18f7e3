"""Conversation memory (app/store/memory.py): recent turns, folding into a bounded summary,
name/language/state; language rules."""

from __future__ import annotations

from dataclasses import replace

import pytest

from app.language import detect_language
from app.store import conversations
from app.store.db import connect
from app.store.memory import SUMMARY_MAX_CHARS, MemoryStore, MemoryUpdate


@pytest.fixture
def cm(tmp_path):
    clock = [1000.0]

    def tick() -> float:
        clock[0] += 1
        return clock[0]

    return MemoryStore(tmp_path / "store.db", max_recent=4, clock=tick)


def test_new_conversation_is_empty(cm):
    ctx = cm.load(1, 2)
    assert (ctx.recent, ctx.summary, ctx.customer_name, ctx.language, ctx.state) == ((), "", None, None, {})
    assert ctx.conversation_key == "1:2"


def test_recent_turns_in_order_with_roles_and_times(cm):
    cm.record(1, 2, "customer", "oi")
    cm.record(1, 2, "bot", "Olá!")
    ctx = cm.load(1, 2)
    assert [(t.role, t.text) for t in ctx.recent] == [("customer", "oi"), ("bot", "Olá!")]
    assert ctx.recent[0].at < ctx.recent[1].at
    role, text, at = ctx.recent[0]  # plain tuples for callers that unpack
    assert role == "customer"


def test_oldest_turns_fold_into_summary(cm):
    for i in range(6):
        cm.record(1, 2, "customer", f"pergunta {i} sobre protetor solar")
    ctx = cm.load(1, 2)
    assert [t.text for t in ctx.recent] == [f"pergunta {i} sobre protetor solar" for i in range(2, 6)]
    assert ctx.summary.splitlines() == [
        "customer: pergunta 0 sobre protetor solar",
        "customer: pergunta 1 sobre protetor solar",
    ]


def test_summary_stays_bounded(cm):
    for i in range(200):
        cm.record(1, 2, "customer" if i % 2 else "bot", f"mensagem número {i} " + "x" * 150)
    ctx = cm.load(1, 2)
    assert len(ctx.summary) <= SUMMARY_MAX_CHARS + 2
    assert ctx.summary.startswith("…")
    assert "mensagem número 195" in ctx.summary  # the newest folded turn is kept
    assert len(ctx.recent) == 4


def test_conversations_are_separate(cm):
    cm.record(1, 2, "customer", "a")
    cm.record(1, 3, "customer", "b")
    cm.record(9, 2, "customer", "c")
    assert [t.text for t in cm.load(1, 2).recent] == ["a"]
    assert [t.text for t in cm.load(9, 2).recent] == ["c"]


def test_update_sets_only_what_is_given(cm):
    cm.apply([MemoryUpdate(1, 2, state={"offered_slots": [{"n": 1}]})])
    cm.apply([MemoryUpdate(1, 2, language="en")])
    ctx = cm.load(1, 2)
    assert (ctx.language, ctx.state) == ("en", {"offered_slots": [{"n": 1}]})
    cm.apply([MemoryUpdate(1, 2, state={})])
    assert cm.load(1, 2).state == {}


def test_the_customer_name_is_the_conversations_contact_name(cm):
    """One conversation table: the name the worker keeps from Chatwoot's contact is the memory's."""
    conn = connect(cm.db_path)
    conversations.save(conn, replace(conversations.load(conn, 1, 2), contact_name="Ana"))
    assert cm.load(1, 2).customer_name == "Ana"


def test_unknown_role_is_refused(cm):
    with pytest.raises(ValueError):
        cm.record(1, 2, "system", "x")


def test_memory_survives_a_new_manager(tmp_path):
    MemoryStore(tmp_path / "s.db").record(1, 2, "customer", "lembra de mim?")
    assert MemoryStore(tmp_path / "s.db").load(1, 2).recent[0].text == "lembra de mim?"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Quanto custa o hidratante?", "pt-BR"),
        ("quero falar com um atendente", "pt-BR"),
        ("oi, tudo bem?", "pt-BR"),
        ("How much is the sunscreen?", "en"),
        ("I want to book an appointment", "en"),
        ("hello", "en"),
    ],
)
def test_detect_language(text, expected):
    assert detect_language(text, "pt-BR" if expected == "en" else "en") == expected


def test_detect_language_keeps_default_without_evidence():
    assert detect_language("2", "en") == "en"
    assert detect_language("BP-001", "pt-BR") == "pt-BR"


def test_the_same_chatwoot_message_is_recorded_once(tmp_path):
    # A turn redone after a worker crash records its customer messages a second time.
    cm = MemoryStore(tmp_path / "ctx.db")
    cm.record(1, 5, "customer", "quanto custa?", message_id=901)
    cm.record(1, 5, "customer", "quanto custa?", message_id=901)
    cm.record(1, 5, "customer", "e o frete?", message_id=902)
    cm.record(1, 5, "bot", "R$ 10")  # no id: always recorded
    assert [t.text for t in cm.load(1, 5).recent] == ["quanto custa?", "e o frete?", "R$ 10"]
