"""End to end: the real web and worker programs, real SQLite, the Chatwoot fake over loopback.

Every request the worker sends is checked against Chatwoot's swagger by the fake; a mismatch
fails the test at teardown.
"""

import json
import sqlite3
import time
import uuid

import pytest

from tests.fakes.chatwoot import Fault
from tests.integration.conftest import BOT_TOKEN

MESSAGES = r"/conversations/\d+/messages$"


def paths(chatwoot, conversation_id):
    return [(r.method, r.path.rsplit("/", 1)[-1], r.json) for r in chatwoot.requests_for(conversation_id)]


def test_incoming_message_gets_one_reply_with_typing_around_it(appliance, chatwoot):
    app = appliance()
    app.customer_says(101, "quanto custa o hidratante facial?")
    [reply] = app.wait_replies(101)
    assert "Hidratante Facial" in reply["content"] and "R$ 49,90" in reply["content"]
    app.wait_worked(101)
    calls = paths(chatwoot, 101)
    assert calls == [
        ("POST", "toggle_typing_status", {"typing_status": "on"}),
        ("POST", "messages", {"content": reply["content"], "message_type": "outgoing", "private": False,
                              "content_type": "text"}),
        ("POST", "toggle_typing_status", {"typing_status": "off"}),
    ]
    assert all(r.headers.get("api_access_token") for r in chatwoot.requests_for(101))


def test_same_delivery_twice_one_reply(appliance):
    app = appliance()
    delivery = str(uuid.uuid4())
    payload, first = app.customer_says(102, "qual o horário de funcionamento?", delivery=delivery)
    second = app.post(payload, delivery=delivery)
    third = app.post(payload)  # Chatwoot's other failure mode: same message, new delivery id
    assert (first, second, third) == ({"status": "queued"}, {"status": "duplicate"}, {"status": "duplicate"})
    app.wait_replies(102)
    app.wait_worked(102)
    assert len(app.replies(102)) == 1


def test_three_messages_300ms_apart_one_reply(appliance, chatwoot):
    app = appliance(COALESCE_WINDOW_MS="1000")
    for text in ("oi", "quanto custa o protetor solar?", "e o hidratante facial?"):
        app.customer_says(103, text)
        time.sleep(0.3)
    [reply] = app.wait_replies(103)
    app.wait_worked(103)
    assert len(app.replies(103)) == 1
    # One turn answered all three messages, and its reply covers both questions.
    conn = sqlite3.connect(app.tmp / "data" / "chatwootai.db")
    turns = conn.execute("SELECT event_ids FROM turns WHERE conversation_id = 103").fetchall()
    assert len(turns) == 1 and len(json.loads(turns[0][0])) == 3
    assert "Protetor Solar" in reply["content"] and "Hidratante" in reply["content"]


def test_agent_message_silences_bot_until_pending_again(appliance):
    app = appliance()
    app.customer_says(104, "oi")
    app.wait_replies(104)
    app.agent_says(104, "Oi Maria, aqui é a Ana. Vou te ajudar pessoalmente.")
    app.customer_says(104, "quanto custa o hidratante facial?")
    app.wait_worked(104)
    assert len(app.replies(104)) == 1, "the bot answered after a human took over"
    app.status_changes(104, "open", "pending")
    app.status_changes(104, "pending", "open")  # e.g. the agent sent it back to the bot
    app.customer_says(104, "qual o horário de funcionamento?")
    replies = app.wait_replies(104, 2)
    assert len(replies) == 2


def test_customer_asks_for_a_human_hands_off(appliance, chatwoot):
    app = appliance()
    app.customer_says(105, "quero falar com um atendente")
    [message] = app.wait_replies(105)
    chatwoot.wait_for(lambda reqs: any(r.path.endswith("/105/toggle_status") for r in reqs))
    app.wait_worked(105)
    conv = chatwoot.conversation(105)
    notes = [m for m in conv["messages"] if m["private"]]
    assert message["content"] and len(notes) == 1
    assert "customer asked for a human" in notes[0]["content"]
    assert conv["labels"] == ["whatsapp", "ai-handoff"]  # existing labels kept: the API replaces the list
    assert conv["status"] == "open"
    order = [p for _, p, _ in paths(chatwoot, 105)]
    assert order.index("labels") < order.index("toggle_status")
    # After the handoff the bot stays silent.
    app.customer_says(105, "alô?", status="open")
    app.wait_worked(105)
    assert len(app.replies(105)) == 1


def test_handoff_outside_business_hours_says_when_people_are_back(appliance, chatwoot):
    app = appliance(BUSINESS_HOURS="mon 00:00-00:01", BUSINESS_TIMEZONE="UTC")
    app.customer_says(114, "quero falar com um atendente")
    [message] = app.wait_replies(114)
    assert "segunda-feira às 00:00" in message["content"] or "amanhã às 00:00" in message["content"] \
        or "hoje às 00:00" in message["content"]


def test_bot_own_outgoing_message_and_private_note_get_no_reply(appliance, chatwoot):
    app = appliance()
    own = app.post({**_fixture("message_created_outgoing_bot"), "id": 880001})
    note = app.agent_says(106, "Cliente VIP", private=True)
    assert own["status"] == "ignored" and note["status"] == "ignored"
    app.wait_worked(106, 1234)
    assert chatwoot.messages(106) == [] and chatwoot.requests_for(1234) == []


def test_chatwoot_500_twice_then_200_one_reply(appliance, chatwoot):
    chatwoot.fault("POST", MESSAGES, Fault.error(500), Fault.error(500))
    app = appliance()
    app.customer_says(107, "vocês aceitam pix?")
    app.wait_replies(107)
    app.wait_worked(107)
    assert len(app.replies(107)) == 1
    posts = [r for r in chatwoot.requests_for(107) if r.path.endswith("/messages")]
    assert [r.status for r in posts] == [500, 500, 200]


def test_429_with_retry_after_2_waits_at_least_2s(appliance, chatwoot):
    chatwoot.fault("POST", MESSAGES, Fault.error(429, "Too many requests", retry_after=2))
    app = appliance()
    app.customer_says(108, "vocês aceitam pix?")
    app.wait_replies(108)
    posts = [r for r in chatwoot.requests_for(108) if r.path.endswith("/messages")]
    assert [r.status for r in posts] == [429, 200]
    assert posts[1].time - posts[0].time >= 2.0


def test_404_goes_to_dead_letters_and_replays(appliance, chatwoot):
    chatwoot.fault("POST", MESSAGES, Fault.error(404, "Resource could not be found"))
    app = appliance()
    app.customer_says(109, "vocês aceitam pix?")
    chatwoot.wait_for(lambda reqs: any(r.path.endswith("/109/messages") and r.status == 404 for r in reqs))
    app.wait_worked(109)
    assert app.replies(109) == []
    listing = app.cli("dead-letters", "list")
    assert listing.returncode == 0 and "reply" in listing.stdout and "404" in listing.stdout
    letter_id = listing.stdout.splitlines()[1].split()[0]
    replay = app.cli("dead-letters", "replay", letter_id)
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert len(app.replies(109)) == 1
    assert "replayed: sent" in app.cli("dead-letters", "list").stdout


def test_worker_sigkilled_before_the_reply_restarted_exactly_one_reply(appliance, chatwoot):
    chatwoot.fault("POST", r"/110/toggle_typing_status$", Fault.slow(2.5))
    app = appliance()
    app.customer_says(110, "vocês aceitam pix?")
    chatwoot.wait_for(lambda reqs: any(r.path.endswith("/110/toggle_typing_status") for r in reqs))
    app.worker.kill()  # SIGKILL in the middle of the turn: decided nothing, sent nothing yet
    assert app.replies(110) == []
    app.start_worker()
    app.wait_replies(110, timeout=20)
    app.wait_worked(110)
    assert len(app.replies(110)) == 1


def test_worker_sigkilled_during_the_reply_post_restarted_exactly_one_reply(appliance, chatwoot):
    chatwoot.fault("POST", r"/111/messages$", Fault.slow(2.0))
    app = appliance()
    app.customer_says(111, "vocês aceitam pix?")
    chatwoot.wait_for(lambda reqs: any(r.path.endswith("/111/messages") for r in reqs))
    app.worker.kill()  # the POST is in flight: Chatwoot will create the message
    app.start_worker()
    app.wait_replies(111, timeout=20)
    # The restarted worker takes the dead worker's lease over and finds the request it had in
    # flight: it looks at the conversation, finds the reply there and does not send it again.
    db = sqlite3.connect(app.tmp / "data" / "chatwootai.db")
    deadline = time.monotonic() + 20
    while db.execute("SELECT state FROM outbox WHERE purpose = 'reply'").fetchone()[0] != "sent":
        assert time.monotonic() < deadline, app.worker.output()[-3000:]
        time.sleep(0.2)
    db.close()
    app.wait_worked(111)
    assert len(app.replies(111)) == 1
    assert len([r for r in chatwoot.requests_for(111) if r.method == "POST" and r.path.endswith("/messages")]) == 1
    assert "no dead letters" in app.cli("dead-letters", "list").stdout


def test_worker_sigkilled_while_a_lost_reply_post_hangs_restarted_sends_it_once(appliance, chatwoot):
    chatwoot.fault("POST", r"/112/messages$", Fault.hang_up())  # the POST never takes effect
    app = appliance()
    app.customer_says(112, "vocês aceitam pix?")
    chatwoot.wait_for(lambda reqs: any(r.path.endswith("/112/messages") for r in reqs))
    app.worker.kill()
    app.start_worker()
    # The row is found `sending`; the conversation does not hold the reply: sent once more.
    [reply] = app.wait_replies(112, timeout=25)
    assert "pix" in reply["content"].lower()
    assert "no dead letters" in app.cli("dead-letters", "list").stdout


def test_sigterm_finishes_the_turn_in_flight_then_exits(appliance, chatwoot):
    chatwoot.fault("POST", r"/122/toggle_typing_status$", Fault.slow(1.5))
    app = appliance()
    app.customer_says(122, "vocês aceitam pix?")
    chatwoot.wait_for(lambda reqs: any(r.path.endswith("/122/toggle_typing_status") for r in reqs))
    assert app.worker.stop() == 0  # SIGTERM while the turn waits on Chatwoot
    assert len(app.replies(122)) == 1
    assert "finishing 1 conversation(s) in flight" in app.worker.output()


def test_an_unparseable_stored_event_does_not_block_its_conversation(appliance):
    app = appliance()
    conn = sqlite3.connect(app.tmp / "data" / "chatwootai.db")
    conn.execute("INSERT INTO events (account_id, conversation_id, kind, answerable, payload, received_at)"
                 " VALUES (1, 123, 'message_created', 1, '{\"event\": \"message_created\"}', 0)")
    conn.commit()
    app.customer_says(123, "vocês aceitam pix?")
    app.wait_replies(123)
    assert "stored event cannot be parsed, skipped" in app.worker.output()


def test_two_conversations_interleaved_each_in_its_own_order(appliance, chatwoot):
    app = appliance(WORKER_CONCURRENCY="2")
    texts = {
        112: ["quanto custa o protetor solar?", "vocês aceitam pix?", "qual o horário de funcionamento?"],
        113: ["qual o endereço da loja?", "quanto custa o hidratante facial?", "vocês fazem entrega?"],
    }
    for i in range(3):
        for conversation in (112, 113):
            app.customer_says(conversation, texts[conversation][i])
            app.wait_replies(conversation, i + 1)
    conn = sqlite3.connect(app.tmp / "data" / "chatwootai.db")
    for conversation in (112, 113):
        replies = app.replies(conversation)
        assert len(replies) == 3
        ids = [m["id"] for m in replies]
        assert ids == sorted(ids)
        answered = [json.loads(r[0]) for r in conn.execute(
            "SELECT event_ids FROM turns WHERE conversation_id = ? ORDER BY id", (conversation,))]
        flat = [e for ids in answered for e in ids]
        assert flat == sorted(flat) and len(flat) == 3


def test_interleaved_burst_processed_in_message_order(appliance, chatwoot):
    # Both conversations get messages faster than the worker answers: each conversation's
    # events are applied in the order they were stored, one turn at a time.
    app = appliance(WORKER_CONCURRENCY="2", COALESCE_WINDOW_MS="0")
    for i in range(4):
        app.customer_says(115, f"quanto custa o protetor solar? ({i})")
        app.customer_says(116, f"vocês aceitam pix? ({i})")
    deadline = time.monotonic() + 15
    conn = sqlite3.connect(app.tmp / "data" / "chatwootai.db")
    while time.monotonic() < deadline:
        pending = conn.execute("SELECT count(*) FROM events WHERE state = 'pending'").fetchone()[0]
        unsent = conn.execute("SELECT count(*) FROM outbox WHERE state IN ('pending', 'sending')").fetchone()[0]
        if pending == 0 and unsent == 0:
            break
        time.sleep(0.05)
    for conversation in (115, 116):
        turns = [json.loads(r[0]) for r in conn.execute(
            "SELECT event_ids FROM turns WHERE conversation_id = ? ORDER BY id", (conversation,))]
        flat = [e for ids in turns for e in ids]
        assert flat == sorted(flat) and len(flat) == 4
        ids = [m["id"] for m in app.replies(conversation)]
        assert len(ids) == len(turns) and ids == sorted(ids)


def test_audio_attachment_is_acknowledged_never_silence(appliance, chatwoot):
    app = appliance()
    audio = [{"id": 9, "message_id": 1, "file_type": "audio", "data_url": "https://cw.example/audio.ogg",
              "thumb_url": "", "file_size": 2000}]
    app.customer_says(117, "", attachments=audio)
    [reply] = app.wait_replies(117)
    assert "áudio" in reply["content"]


def test_image_with_text_answers_the_text_and_acknowledges_the_image(appliance):
    app = appliance()
    image = [{"id": 10, "message_id": 1, "file_type": "image", "data_url": "https://cw.example/foto.jpg",
              "thumb_url": "", "file_size": 50000}]
    app.customer_says(119, "quanto custa o protetor solar?", attachments=image)
    [reply] = app.wait_replies(119)
    assert "Protetor Solar" in reply["content"] and "anexo" in reply["content"]


def test_handoff_note_links_the_attachment_for_the_agent(appliance, chatwoot):
    app = appliance()
    audio = [{"id": 11, "message_id": 1, "file_type": "audio", "data_url": "https://cw.example/voz.ogg",
              "thumb_url": "", "file_size": 3000}]
    app.customer_says(120, "quero falar com um atendente", attachments=audio)
    chatwoot.wait_for(lambda reqs: any(r.path.endswith("/120/toggle_status") for r in reqs))
    [note] = [m for m in chatwoot.messages(120) if m["private"]]
    assert "Attachment (audio): https://cw.example/voz.ogg" in note["content"]


def test_offline_booking_dialogue_through_the_worker(appliance):
    app = appliance()
    app.customer_says(124, "quero agendar uma limpeza de pele")
    [offer] = app.wait_replies(124)
    assert "1." in offer["content"] and "2." in offer["content"]
    app.customer_says(124, "2")
    confirmation = app.wait_replies(124, 2)[1]
    second = [line for line in offer["content"].splitlines() if line.startswith("2.")][0]
    when = second.split("—", 1)[1].strip()  # e.g. "ter, 01/12 às 11:00"
    assert when in confirmation["content"]
    conn = sqlite3.connect(app.tmp / "data" / "chatwootai.db")
    assert conn.execute("SELECT count(*) FROM bookings WHERE conversation_key = '1:124' AND seat IS NOT NULL"
                        ).fetchone()[0] == 1


def test_worker_metrics_and_readiness(appliance, chatwoot):
    import httpx

    app = appliance()
    app.customer_says(118, "quero falar com um atendente")
    chatwoot.wait_for(lambda reqs: any(r.path.endswith("/118/toggle_status") for r in reqs))
    app.wait_worked(118)
    text = httpx.get(f"{app.web.url}/metrics").text
    assert 'chatwootai_turns_total{action="handoff"} 1.0' in text
    assert "chatwootai_handoffs_total 1.0" in text
    assert "chatwootai_turn_latency_seconds_count 1.0" in text
    ready = httpx.get(f"{app.web.url}/ready").json()
    assert ready["ready"] is True and ready["checks"]["worker"]["status"] == "ok"
    assert ready["checks"]["chatwoot"]["status"] == "ok"


def test_ready_reports_chatwoot_failing_but_stays_ready(appliance, chatwoot):
    import httpx

    chatwoot.fault("POST", MESSAGES, *[Fault.error(502)] * 5)
    app = appliance()
    app.customer_says(121, "vocês aceitam pix?")
    deadline = time.monotonic() + 20
    while True:
        ready = httpx.get(f"{app.web.url}/ready").json()
        if isinstance(ready["checks"]["chatwoot"], dict) and ready["checks"]["chatwoot"]["status"] == "failing":
            break
        assert time.monotonic() < deadline, ready
        time.sleep(0.2)
    assert ready["ready"] is True and "HTTP 502" in ready["checks"]["chatwoot"]["last_error"]
    assert BOT_TOKEN not in json.dumps(ready)


def _fixture(name):
    from tests.support import fixture_event

    return fixture_event(name)


@pytest.fixture(autouse=True)
def _no_leftover_faults(chatwoot):
    yield
    chatwoot.clear_faults()
