"""The real worker when writes fail: a lease release that cannot be written, and a conversation
whose turn fails every time. Faults are made in the real store with SQLite triggers, the way a
full disk or a value SQLite refuses makes a statement fail."""

import sqlite3

import httpx

from tests.support import wait_until


def db(app) -> sqlite3.Connection:
    return sqlite3.connect(app.tmp / "data" / "chatwootai.db", isolation_level=None, timeout=10)


def test_a_lease_release_that_cannot_be_written_does_not_keep_the_slot(appliance):
    app = appliance(WORKER_CONCURRENCY="1")
    conn = db(app)
    conn.execute("CREATE TRIGGER full_disk BEFORE UPDATE OF lease_owner ON conversations"
                 " WHEN NEW.lease_owner IS NULL AND OLD.conversation_id = 201"
                 " BEGIN SELECT RAISE(FAIL, 'database or disk is full'); END")
    app.customer_says(201, "vocês aceitam pix?")
    app.wait_replies(201)
    # Before: the failed release escaped the task's cleanup and the only slot stayed taken.
    app.customer_says(202, "qual o endereço da loja?")
    app.wait_replies(202)
    conn.execute("DROP TRIGGER full_disk")  # space is back: the release is retried and lands
    wait_until(lambda: conn.execute("SELECT lease_owner FROM conversations WHERE conversation_id = 201")
         .fetchone()[0] is None, what="the lease of 201 released")


def test_a_failing_conversation_is_dead_lettered_and_never_blocks_the_others(appliance):
    app = appliance(WORKER_CONCURRENCY="1")
    conn = db(app)
    conn.execute("CREATE TRIGGER poison BEFORE UPDATE OF handler, status, labels, contact_name, inbox_id"
                 " ON conversations WHEN NEW.conversation_id = 301"
                 " BEGIN SELECT RAISE(ABORT, 'poisoned conversation'); END")
    app.customer_says(301, "quanto custa o hidratante facial?")
    # While 301 waits for its next attempt it holds no slot: 302 is answered meanwhile.
    ready = wait_until(lambda: (r := httpx.get(f"{app.web.url}/ready").json())["checks"]["worker"].get(
        "failing_conversations") and r, what="/ready to show the failing conversation")
    assert ready["ready"] is True
    assert ready["checks"]["worker"]["failing"][0]["conversation"] == "1/301"
    metrics = httpx.get(f"{app.web.url}/metrics").text
    assert "chatwootai_conversations_failing 1.0" in metrics
    app.customer_says(302, "qual o endereço da loja?")
    app.wait_replies(302)
    # Three identical failures: the event goes to dead letters and the conversation is free again.
    letters = wait_until(lambda: conn.execute(
        "SELECT id, error FROM dead_letters WHERE conversation_id = 301").fetchall(), what="a dead letter")
    assert len(letters) == 1 and "poisoned conversation" in letters[0][1]
    assert conn.execute("SELECT state FROM events WHERE conversation_id = 301").fetchall() == [("dead",)]
    wait_until(lambda: httpx.get(f"{app.web.url}/ready").json()["checks"]["worker"]["failing_conversations"] == 0,
         what="/ready to stop showing the conversation")
    assert app.replies(301) == []
    output = app.worker.output()
    assert output.count("Traceback") <= 1, "one traceback at the first failure, not one per attempt"
    assert "conversation failed again (2 of 3)" in output
    listed = app.cli("dead-letters", "list")
    assert listed.returncode == 0 and "1/301" in listed.stdout and "poisoned conversation" in listed.stdout
    dropped = app.cli("dead-letters", "drop", str(letters[0][0]))
    assert dropped.returncode == 0, dropped.stdout + dropped.stderr
    assert conn.execute("SELECT count(*) FROM dead_letters").fetchone()[0] == 0
