"""One conversation table: a store written by an older version (memory in `ctx_conversations`) is
migrated in place on open, keeping its data, whichever program opens it first."""

from __future__ import annotations

import json

import pytest

from app.store import conversations
from app.store.db import connect, migrate
from app.store.memory import MEMORY_MIGRATIONS, MemoryStore, migrate_memory
from app.worker.loop import open_worker_store

OLD_CONTEXT = MEMORY_MIGRATIONS[:2]  # what the released versions applied


def old_store(path, *, with_worker: bool = True):
    """A store as the previous version left it: its migrations only, and rows in them."""
    conn = connect(path)
    if with_worker:
        migrate(conn, "worker", conversations.WORKER_MIGRATIONS)
        conn.execute("INSERT INTO conversations (account_id, conversation_id, handler, contact_name, updated_at)"
                     " VALUES (1, 10, 'human', NULL, 5), (1, 11, 'bot', 'Maria Chatwoot', 5)")
    migrate(conn, "context", OLD_CONTEXT)
    conn.executemany(
        "INSERT INTO ctx_conversations (account_id, conversation_id, summary, customer_name, language, state,"
        " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(1, 10, "customer: oi", "Ana", "pt-BR", json.dumps({"offered_slots": [{"n": 1}]}), 100.0),
         (1, 11, "", "Maria", "en", "{}", 101.0),
         (2, 12, "bot: hello", "Joe", "en", "{}", 102.0)])  # memory only: no worker row yet
    conn.executemany("INSERT INTO ctx_turns (account_id, conversation_id, role, text, at, message_id)"
                     " VALUES (?, ?, ?, ?, ?, ?)",
                     [(1, 10, "customer", "quero agendar", 100.0, 7), (1, 10, "bot", "1. ter 10:00", 100.5, None)])
    conn.close()


def tables(path) -> set[str]:
    conn = connect(path)
    try:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        conn.close()


@pytest.mark.parametrize("first", ["hub", "worker"])
def test_an_old_store_keeps_its_memory_in_the_one_conversations_table(tmp_path, first):
    path = tmp_path / "chatwootai.db"
    old_store(path)
    if first == "worker":
        open_worker_store(path).close()  # the worker's store opens first: nothing of the memory moves yet
    memory = MemoryStore(path)

    ana = memory.load(1, 10)
    assert (ana.summary, ana.customer_name, ana.language, ana.state) == (
        "customer: oi", "Ana", "pt-BR", {"offered_slots": [{"n": 1}]})
    assert [(t.role, t.text) for t in ana.recent] == [("customer", "quero agendar"), ("bot", "1. ter 10:00")]
    # The worker's name for the contact wins where it had one; the memory's fills a gap.
    assert memory.load(1, 11).customer_name == "Maria Chatwoot" and memory.load(1, 11).language == "en"
    joe = memory.load(2, 12)
    assert (joe.summary, joe.customer_name) == ("bot: hello", "Joe")
    assert "ctx_conversations" not in tables(path) and "ctx_turns" in tables(path)

    conn = open_worker_store(path)
    state = conversations.load(conn, 1, 10)
    assert (state.handler, state.contact_name) == ("human", "Ana")  # the worker's columns are untouched
    assert conn.execute("SELECT version FROM schema_versions WHERE component = 'context'").fetchone()[0] == len(
        MEMORY_MIGRATIONS)
    # The same Chatwoot message recorded before the upgrade is still recorded once.
    memory.record(1, 10, "customer", "quero agendar", message_id=7)
    assert len(memory.load(1, 10).recent) == 2
    conn.close()
    memory.close()


def test_a_store_the_hub_opened_before_any_worker_is_migrated_too(tmp_path):
    path = tmp_path / "chatwootai.db"
    old_store(path, with_worker=False)
    assert MemoryStore(path).load(2, 12).customer_name == "Joe"
    assert "ctx_conversations" not in tables(path)


def test_a_fresh_store_opens_in_any_order(tmp_path):
    for n, order in enumerate((("memory", "worker"), ("worker", "memory"))):
        path = tmp_path / f"fresh-{n}.db"
        for program in order:
            conn = connect(path) if program == "memory" else open_worker_store(path)
            if program == "memory":
                migrate_memory(conn)
            conn.close()
        memory = MemoryStore(path)
        memory.record(1, 1, "customer", "oi", message_id=1)
        assert memory.load(1, 1).recent[0].text == "oi"
        assert "ctx_conversations" not in tables(path)
        memory.close()
