"""/ready when the inbox cannot write, when the worker is stalled, and with failing conversations.

The checks run against a real GroupCommitWriter and a real store; a full disk is SQLite's own
limit (`max_page_count`), which fails the way a full filesystem does.
"""

import asyncio
import time
from types import SimpleNamespace

import pytest

from app.errors import StoreError
from app.settings import Settings
from app.store import conversations
from app.store.db import PerThreadConnection
from app.store.inbox import GroupCommitWriter, NewEvent
from app.web import health
from app.worker.failures import FailureTracker
from app.worker.loop import open_worker_store


def event(i: int) -> NewEvent:
    return NewEvent(kind="message_created", payload="x" * 3000, received_at=time.time(), answerable=True,
                    delivery_id=f"d-{i}", account_id=1, conversation_id=1, message_id=i)


@pytest.fixture
def ctx(tmp_path, monkeypatch):
    db = tmp_path / "chatwootai.db"
    open_worker_store(db).close()
    settings = Settings.from_env({"WEBHOOK_AUTH_TOKEN": "tok-ready-1", "DATA_DIR": str(tmp_path)})
    reader = PerThreadConnection(db)
    yield SimpleNamespace(settings=settings, writer=GroupCommitWriter(db), read_db=reader.get)
    reader.close()


def test_inbox_is_unready_while_commits_fail_and_ready_again_when_space_returns(ctx, monkeypatch):
    monkeypatch.setattr(health, "PROBE_EVERY_S", 0.0)

    async def scenario():
        writer = ctx.writer
        await writer.start()
        assert health.inbox_check(ctx) == (True, "ok")
        conn = writer._conn  # the writer's own connection: cap the file at its size
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count={pages}")
        with pytest.raises(StoreError):
            for i in range(100):
                await writer.store(event(i))
        ok, detail = health.inbox_check(ctx)
        assert not ok and detail["status"] == "cannot write"
        assert "database or disk is full" in detail["error"]
        conn.execute("PRAGMA max_page_count=1073741823")  # space is back; no webhook arrives
        assert health.inbox_check(ctx) == (True, "ok")
        await writer.stop()

    asyncio.run(scenario())


def test_worker_that_beats_but_makes_no_progress_is_unready(ctx):
    conn = open_worker_store(ctx.settings.db_path)
    now = time.time()
    conversations.heartbeat(conn, "w1", 1, now, 4, progress_at=now - health.WORKER_STALL_S - 5)
    ok, detail = health.worker_check(ctx)
    assert not ok and detail["status"] == "stalled" and detail["in_flight"] == 4
    conversations.heartbeat(conn, "w1", 1, now, 0, progress_at=now)
    ok, detail = health.worker_check(ctx)
    assert ok and detail["status"] == "ok"


def test_ready_shows_conversations_in_failure(ctx):
    conn = open_worker_store(ctx.settings.db_path)
    conversations.heartbeat(conn, "w1", 1, time.time(), 0)
    FailureTracker().failed(conn, (1, 9), OverflowError("int too large"))
    ok, detail = health.worker_check(ctx)
    assert ok, "a poison conversation is shown, it does not make the appliance unready"
    assert detail["failing_conversations"] == 1
    assert detail["failing"][0]["conversation"] == "1/9" and "OverflowError" in detail["failing"][0]["error"]


def test_metrics_count_conversations_in_failure(ctx):
    from app.web.metrics import worker_metrics

    conn = open_worker_store(ctx.settings.db_path)
    FailureTracker().failed(conn, (1, 9), OverflowError("int too large"))
    values = {m.name: m.samples[0].value for m in worker_metrics(conn) if m.samples}
    assert values["chatwootai_conversations_failing"] == 1
    assert values["chatwootai_dead_letter_events"] == 0
