"""The outbox sender against the Chatwoot fake: real HTTP, real SQLite, no worker process."""

from __future__ import annotations

import asyncio

import pytest

from app.chatwoot import api
from app.client import ChatwootClient
from app.store import conversations, outbox
from app.worker.loop import open_worker_store
from app.worker.sender import MAX_ROUNDS, OutboxSender
from tests.fakes.chatwoot import Fault, checked_fake

BOT = "bot-token-sender"


@pytest.fixture
def fake():
    with checked_fake(bot_tokens=(BOT,)) as fake:
        yield fake


@pytest.fixture
def conn(tmp_path):
    conn = open_worker_store(tmp_path / "chatwootai.db")
    yield conn
    conn.close()


def record_turn(conn, conversation_id: int, *requests) -> int:
    state = conversations.load(conn, 1, conversation_id)
    turn = outbox.TurnRecord(1, conversation_id, (), "reply", "sales", "pt-BR", None, 0, 0, 0.0, 0.0, 0.0)
    return outbox.commit_turn(conn, turn, list(requests), [], state)


def sender_for(fake, conn, **kw):
    client = ChatwootClient(fake.url, BOT, max_attempts=1, backoff_base=0.01)
    return OutboxSender(conn, client, round_backoff_s=0.0, **kw), client


def test_unavailable_chatwoot_retries_in_rounds_then_dead_letters(fake, conn):
    fake.fault("POST", r"/messages$", *[Fault.error(503)] * MAX_ROUNDS)
    record_turn(conn, 7, api.create_message(1, 7, "Olá!"))
    sender, client = sender_for(fake, conn)

    async def rounds():
        results = []
        for _ in range(MAX_ROUNDS):
            results.append(await sender.flush(1, 7))
        await client.aclose()
        return results

    results = asyncio.run(rounds())
    # Each failed round leaves the row waiting (False); the last one dead-letters it (True).
    assert results == [False] * (MAX_ROUNDS - 1) + [True]
    [letter] = outbox.list_dead_letters(conn)
    assert letter["purpose"] == "reply" and letter["status"] == 503
    assert fake.messages(7) == []


def test_a_waiting_request_holds_back_the_conversations_later_requests(fake, conn):
    fake.fault("POST", r"/messages$", Fault.error(500))
    record_turn(conn, 8, api.create_message(1, 8, "primeira"))
    record_turn(conn, 8, api.create_message(1, 8, "segunda"))
    sender, client = sender_for(fake, conn)

    async def two_flushes():
        first = await sender.flush(1, 8)
        second = await sender.flush(1, 8)
        await client.aclose()
        return first, second

    assert asyncio.run(two_flushes()) == (False, True)
    assert [m["content"] for m in fake.messages(8)] == ["primeira", "segunda"]


def test_labels_refused_to_the_bot_token_go_with_the_admin_token(conn):
    with checked_fake(bot_tokens=(BOT,), user_tokens=("admin-x",), bot_can_label=False) as fake:
        record_turn(conn, 9, api.set_labels(1, 9, ["vip", "ai-handoff"]))
        client = ChatwootClient(fake.url, BOT, max_attempts=1)
        admin = ChatwootClient(fake.url, "admin-x", max_attempts=1)
        sender = OutboxSender(conn, client, admin_client=admin)

        async def run():
            done = await sender.flush(1, 9)
            await client.aclose()
            await admin.aclose()
            return done

        assert asyncio.run(run()) is True
        assert fake.conversation(9)["labels"] == ["vip", "ai-handoff"]
        assert [r.status for r in fake.requests_for(9)] == [401, 200]


def test_without_chatwoot_rows_are_skipped_not_lost(conn):
    record_turn(conn, 10, api.create_message(1, 10, "Olá!"))
    sender = OutboxSender(conn, None)
    assert asyncio.run(sender.flush(1, 10)) is True
    row = conn.execute("SELECT state, last_error FROM outbox").fetchone()
    assert tuple(row) == ("skipped", "Chatwoot is not configured")


def test_a_reply_that_may_have_been_posted_is_dead_lettered_not_resent(fake, conn):
    # Saved, no answer in time, and the customer wrote right after it: with the bot token alone
    # Chatwoot's conversation shows only the customer's message, so nothing settles it.
    fake.fault("POST", r"/messages$", Fault(hang=True, saved=True, then=lambda: fake.add_message(11, "alô?")))
    record_turn(conn, 11, api.create_message(1, 11, "Olá!"))
    client = ChatwootClient(fake.url, BOT, timeout=0.5, backoff_base=0.01)
    sender = OutboxSender(conn, client, round_backoff_s=0.0)

    async def run():
        done = await sender.flush(1, 11)
        await client.aclose()
        return done

    assert asyncio.run(run()) is True
    [letter] = outbox.list_dead_letters(conn)
    assert "may have been posted" in letter["error"]
    assert len([r for r in fake.requests if r.method == "POST" and r.path.endswith("/messages")]) == 1
