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


def test_a_failing_row_fails_alone_and_its_batch_mates_are_stored(tmp_path):
    # Issue 7: one bad row used to fail the whole group commit, so legitimate webhooks that shared
    # its transaction got 500 too. The batch is now retried row by row.
    async def store(w):
        conn = sqlite3.connect(tmp_path / "db")
        conn.execute("CREATE TRIGGER no BEFORE INSERT ON events WHEN NEW.message_id = 13"
                     " BEGIN SELECT RAISE(ABORT, 'disk full'); END")
        conn.commit()
        overflow = event(99)._replace(message_id=2**63)  # OverflowError at bind time
        results = await asyncio.gather(*(w.store(event(n)) for n in range(1, 41)), w.store(overflow),
                                       return_exceptions=True)
        after = await w.store(event(50))
        return results, after

    writer, (results, after) = run(tmp_path / "db", store)
    failed = {i + 1 for i, r in enumerate(results) if isinstance(r, StoreError)}
    assert failed == {13, 41}  # message 13 (the trigger) and the overflowing row, nothing else
    assert [r for i, r in enumerate(results) if i + 1 not in failed] == [QUEUED] * 39
    assert after == QUEUED and writer.retried_batches >= 1
    ids = {r[0] for r in sqlite3.connect(tmp_path / "db").execute("SELECT message_id FROM events")}
    assert ids == set(range(1, 41)) - {13} | {50}


def test_every_row_fails_when_the_store_cannot_write_at_all(tmp_path):
    async def store(w):
        conn = sqlite3.connect(tmp_path / "db")
        conn.execute("CREATE TRIGGER no BEFORE INSERT ON events BEGIN SELECT RAISE(ABORT, 'disk full'); END")
        conn.commit()
        return await asyncio.gather(*(w.store(event(n)) for n in range(5)), return_exceptions=True)

    _, results = run(tmp_path / "db", store)
    assert all(isinstance(r, StoreError) and "disk full" in str(r) for r in results)
    assert sqlite3.connect(tmp_path / "db").execute("SELECT count(*) FROM events").fetchone()[0] == 0


def test_commit_hook_sees_each_batch_before_its_waiters_wake(tmp_path):
    seen = []

    async def store(w):
        w.on_commit = lambda batch, results: seen.append(([e.message_id for e, f in batch], list(results),
                                                          [f.done() for e, f in batch]))
        return await asyncio.gather(*(w.store(event(n)) for n in range(3)))

    run(tmp_path / "db", store)
    assert seen == [([0, 1, 2], [QUEUED] * 3, [False] * 3)]


def test_store_after_stop_raises(tmp_path):
    async def main():
        writer = GroupCommitWriter(tmp_path / "db")
        await writer.start()
        await writer.stop()
        with pytest.raises(StoreError):
            await writer.store(event(1))

    asyncio.run(main())


def test_duplicates_scattered_through_one_batch_are_told_apart(tmp_path):
    # The batch is inserted in one executemany; when some rows were ignored, the rows read back
    # are matched in order, so each waiter gets its own answer (no redo of the transaction).
    async def store(w):
        await w.store(event(2))  # already stored before the batch
        batch = [event(1), event(2), event(3, delivery="d-1"), event(4), event(5, dedup="1:4"), event(6),
                 event(7, delivery="d-7"), event(8, delivery="d-7")]
        return await asyncio.gather(*(w.store(e) for e in batch))

    writer, results = run(tmp_path / "db", store)
    assert results == [QUEUED, DUPLICATE, DUPLICATE, QUEUED, DUPLICATE, QUEUED, QUEUED, DUPLICATE]
    assert writer.batches == 2 and writer.retried_batches == 0
    rows = sqlite3.connect(tmp_path / "db").execute("SELECT message_id FROM events ORDER BY id").fetchall()
    assert [r[0] for r in rows] == [2, 1, 4, 6, 7]
