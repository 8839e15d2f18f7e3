"""The group-commit writer on a real SQLite file: batching, deduplication, failure."""

import asyncio
import sqlite3
import time

import pytest

from app.errors import StoreError
from app.store.inbox import DUPLICATE, QUEUED, GroupCommitWriter, NewEvent


def event(n: int, delivery: str | None = None, dedup: str | None = None) -> NewEvent:
    return NewEvent(kind="message_created", payload="{}", received_at=time.time(), answerable=True,
                    delivery_id=delivery or f"d-{n}", dedup_key=dedup or f"1:{n}", account_id=1,
                    conversation_id=7, message_id=n)


def run(path, coro_factory):
    async def main():
        writer = GroupCommitWriter(path)
        await writer.start()
        try:
            return writer, await coro_factory(writer)
        finally:
            await writer.stop()

    return asyncio.run(main())


def test_concurrent_events_share_commits(tmp_path):
    writer, results = run(tmp_path / "db", lambda w: asyncio.gather(*(w.store(event(i)) for i in range(200))))
    assert results == [QUEUED] * 200
    assert writer.events == 200 and writer.batches < 20  # one commit per loop iteration, not per event
    count = sqlite3.connect(tmp_path / "db").execute("SELECT count(*) FROM events").fetchone()[0]
    assert count == 200


def test_duplicates_inside_one_batch_and_across_batches(tmp_path):
    async def store(w):
        same_batch = await asyncio.gather(w.store(event(1, delivery="x")), w.store(event(2, delivery="x")))
        later = await w.store(event(3, dedup="1:1"))  # same message id, new delivery id
        return same_batch, later

    _, (same_batch, later) = run(tmp_path / "db", store)
    assert same_batch == [QUEUED, DUPLICATE] and later == DUPLICATE


def test_a_failed_commit_fails_every_waiter_of_its_batch_only(tmp_path):
    async def store(w):
        conn = sqlite3.connect(tmp_path / "db")
        conn.execute("CREATE TRIGGER no BEFORE INSERT ON events WHEN NEW.message_id = 13"
                     " BEGIN SELECT RAISE(ABORT, 'disk full'); END")
        conn.commit()
        results = await asyncio.gather(w.store(event(12)), w.store(event(13)), return_exceptions=True)
        after = await w.store(event(14))
        return results, after

    _, (results, after) = run(tmp_path / "db", store)
    assert all(isinstance(r, StoreError) for r in results)  # one transaction: none half-stored
    assert after == QUEUED
    ids = [r[0] for r in sqlite3.connect(tmp_path / "db").execute("SELECT message_id FROM events")]
    assert ids == [14]


def test_store_after_stop_raises(tmp_path):
    async def main():
        writer = GroupCommitWriter(tmp_path / "db")
        await writer.start()
        await writer.stop()
        with pytest.raises(StoreError):
            await writer.store(event(1))

    asyncio.run(main())
