"""At most once, for real: an ambiguous outcome of a message POST is settled by looking at what
Chatwoot holds — never by sending again blind. The outbox sender against the Chatwoot fake,
which refuses the message list to the bot token as Chatwoot does; real HTTP, real SQLite."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from app.chatwoot import api
from app.client import ChatwootClient
from app.store import conversations, outbox
from app.worker.loop import open_worker_store
from app.worker.sender import OutboxSender
from tests.fakes.chatwoot import Fault, checked_fake

BOT, ADMIN = "bot-token-once", "admin-token-once"
TEXT = "Sim, aceitamos pix!"


@pytest.fixture
def fake():
    with checked_fake(bot_tokens=(BOT,), user_tokens=(ADMIN,)) as fake:
        yield fake


@pytest.fixture
def conn(tmp_path):
    conn = open_worker_store(tmp_path / "chatwootai.db")
    yield conn
    conn.close()


def record_reply(conn, conversation_id: int, text: str = TEXT) -> int:
    now = time.time()
    state = conversations.load(conn, 1, conversation_id)
    turn = outbox.TurnRecord(1, conversation_id, (), "reply", "support", "pt-BR", None, 0, 0, now, now, now)
    return outbox.commit_turn(conn, turn, [api.create_message(1, conversation_id, text)], [], state)


def flush(fake, conn, conversation_id: int, *, admin: bool, rounds: int = 1) -> list[bool]:
    async def run():
        client = ChatwootClient(fake.url, BOT, timeout=1.0, backoff_base=0.01, settle_grace_s=0.2)
        admin_client = ChatwootClient(fake.url, ADMIN, timeout=1.0, backoff_base=0.01, settle_grace_s=0.2) if admin else None
        sender = OutboxSender(conn, client, admin_client=admin_client, round_backoff_s=0.0)
        try:
            return [await sender.flush(1, conversation_id) for _ in range(rounds)]
        finally:
            await client.aclose()
            if admin_client:
                await admin_client.aclose()

    return asyncio.run(run())


def posts(fake, conversation_id: int) -> list:
    return [r for r in fake.requests_for(conversation_id) if r.method == "POST" and r.path.endswith("/messages")]


def replies(fake, conversation_id: int) -> list[str]:
    return [m["content"] for m in fake.messages(conversation_id) if m["message_type"] == 1]


def row_state(conn) -> tuple:
    return tuple(conn.execute("SELECT state, chatwoot_id FROM outbox").fetchone())


@pytest.mark.parametrize("admin", [False, True], ids=["bot-token", "admin-token"])
@pytest.mark.parametrize("status", [502, 504])
def test_saved_then_5xx_is_found_and_not_resent(fake, conn, admin, status):
    fake.fault("POST", r"/messages$", Fault.saved_then(status))
    record_reply(conn, 21)
    assert flush(fake, conn, 21, admin=admin) == [True]
    assert replies(fake, 21) == [TEXT]  # exactly one reply
    assert [r.status for r in posts(fake, 21)] == [status]  # nothing re-sent
    assert row_state(conn) == ("sent", fake.messages(21)[0]["id"])
    assert outbox.list_dead_letters(conn) == []


@pytest.mark.parametrize("admin", [False, True], ids=["bot-token", "admin-token"])
def test_failed_then_502_is_resent_once(fake, conn, admin):
    fake.fault("POST", r"/messages$", Fault.error(502, "Bad Gateway"))
    record_reply(conn, 22)
    assert flush(fake, conn, 22, admin=admin) == [True]
    assert replies(fake, 22) == [TEXT]
    assert [r.status for r in posts(fake, 22)] == [502, 200]  # re-sent once
    assert outbox.list_dead_letters(conn) == []


def test_saved_then_answered_after_the_clients_timeout_is_found(fake, conn):
    fake.fault("POST", r"/messages$", Fault.saved_then_late(1.5))
    record_reply(conn, 23)
    assert flush(fake, conn, 23, admin=False) == [True]
    assert replies(fake, 23) == [TEXT] and len(posts(fake, 23)) == 1
    assert row_state(conn)[0] == "sent"


def test_a_save_that_lands_after_the_proxys_504_is_found_not_resent(fake, conn):
    # The proxy gives up first; Chatwoot, still working, saves the message 0.1 s later. The
    # sender looks only after the settle grace, so it finds it rather than posting it again.
    def save_soon():
        threading.Timer(0.1, lambda: fake.add_message(29, TEXT, message_type=1)).start()

    fake.fault("POST", r"/messages$", Fault(504, {"error": "Gateway Timeout"}, then=save_soon))
    record_reply(conn, 29)
    assert flush(fake, conn, 29, admin=False) == [True]
    assert replies(fake, 29) == [TEXT] and len(posts(fake, 29)) == 1
    assert row_state(conn) == ("sent", fake.messages(29)[0]["id"])


def test_customer_wrote_after_our_saved_reply_admin_list_finds_it(fake, conn):
    # The conversation then shows the customer's newer message: the bot token cannot tell, the
    # admin token's message list can.
    fake.fault("POST", r"/messages$", Fault.saved_then(502, then=lambda: fake.add_message(24, "e cartão?")))
    record_reply(conn, 24)
    assert flush(fake, conn, 24, admin=True) == [True]
    assert replies(fake, 24) == [TEXT] and len(posts(fake, 24)) == 1
    assert any(r.path.endswith("/24/messages") and r.method == "GET" and r.status == 200 for r in fake.requests)
    assert outbox.list_dead_letters(conn) == []


def test_customer_wrote_after_a_failed_post_admin_list_resends(fake, conn):
    fake.fault("POST", r"/messages$", Fault.error(502, "Bad Gateway"))
    # A message our store never heard of is the newest: the conversation cannot settle it, the
    # admin token's list (the whole conversation, without our reply) can.
    fake.add_message(25, "alô?")
    record_reply(conn, 25)
    assert flush(fake, conn, 25, admin=True) == [True]
    assert replies(fake, 25) == [TEXT] and [r.status for r in posts(fake, 25)] == [502, 200]


def test_bot_token_alone_that_cannot_tell_dead_letters_may_have_been_posted(fake, conn):
    fake.fault("POST", r"/messages$", Fault.saved_then(502, then=lambda: fake.add_message(26, "e cartão?")))
    record_reply(conn, 26)
    assert flush(fake, conn, 26, admin=False) == [True]
    assert replies(fake, 26) == [TEXT] and len(posts(fake, 26)) == 1  # never re-sent blind
    [letter] = outbox.list_dead_letters(conn)
    assert "may have been posted" in letter["error"] and "CHATWOOT_ADMIN_API_KEY" in letter["error"]
    # Chatwoot refused the message list to the bot token, as it does.
    [listing] = [r for r in fake.requests if r.method == "GET" and r.path.endswith("/26/messages")]
    assert listing.status == 401


def test_chatwoot_unreadable_keeps_the_row_sending_and_looks_again(fake, conn):
    fake.fault("POST", r"/messages$", Fault.saved_then(504))
    fake.fault("GET", r"/conversations/27$", *[Fault.error(503)] * 5)  # the whole first look fails
    record_reply(conn, 27)
    first, second = flush(fake, conn, 27, admin=False, rounds=2)
    assert first is False and second is True  # waited one round, then found it
    assert replies(fake, 27) == [TEXT] and len(posts(fake, 27)) == 1
    assert row_state(conn)[0] == "sent" and outbox.list_dead_letters(conn) == []


@pytest.mark.parametrize("saved", [True, False], ids=["posted-before-the-crash", "never-arrived"])
def test_row_found_sending_after_a_crash_is_settled_by_looking(fake, conn, saved):
    record_reply(conn, 28)
    [row] = outbox.open_rows(conn, 1, 28)
    outbox.mark_sending(conn, row.id)  # the worker died with the POST in flight
    if saved:
        fake.add_message(28, TEXT, message_type=1)  # ...and Chatwoot had saved it
    assert flush(fake, conn, 28, admin=False) == [True]
    assert replies(fake, 28) == [TEXT]
    assert len(posts(fake, 28)) == (0 if saved else 1)
    assert row_state(conn)[0] == "sent" and outbox.list_dead_letters(conn) == []
