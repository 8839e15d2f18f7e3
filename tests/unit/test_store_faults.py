"""The store when the disk is full, and the files it creates.

A full disk is made real with SQLite's own limit (`PRAGMA max_page_count` at the current size):
SQLite then fails exactly as on a full filesystem, "database or disk is full", and rolls the
transaction back by itself.
"""

import os
import stat

import pytest

from app.store import conversations
from app.store.db import connect
from app.worker.loop import open_worker_store


def fill(conn) -> None:
    """Cap the file at its current size and use up what is left in its pages."""
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count={pages}")
    for i in range(10_000):
        try:
            conn.execute("INSERT INTO counters (name, value) VALUES (?, 0)", (f"filler-{i}-" + "x" * 200,))
        except Exception:  # noqa: BLE001 - full: that was the point
            return
    raise AssertionError("the store never filled up")


def test_heartbeat_on_a_full_store_reports_the_disk_not_a_failed_rollback(tmp_path):
    conn = open_worker_store(tmp_path / "chatwootai.db")
    fill(conn)
    with pytest.raises(Exception) as raised:
        conversations.heartbeat(conn, "w-" + "x" * 3000, 1, 0.0, 0)
    # Before: "cannot rollback - no transaction is active", which hid the cause.
    assert "database or disk is full" in str(raised.value)
    assert not conn.in_transaction


def test_commit_turn_on_a_full_store_reports_the_disk(tmp_path):
    from app.chatwoot import api
    from app.store import outbox

    conn = open_worker_store(tmp_path / "chatwootai.db")
    state = conversations.load(conn, 1, 5)
    fill(conn)
    record = outbox.TurnRecord(1, 5, (), "reply", None, None, None, 0, 0, 0.0, 0.0, 0.0)
    with pytest.raises(Exception, match="database or disk is full"):
        outbox.commit_turn(conn, record, [api.create_message(1, 5, "x" * 5000)], [], state)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_database_and_its_wal_files_are_created_owner_only(tmp_path):
    os.umask(0o022)  # the usual umask: files would be 0644
    db = tmp_path / "data" / "chatwootai.db"
    conn = open_worker_store(db)
    conn.execute("INSERT INTO counters (name, value) VALUES ('x', 1)")
    for path in (db, f"{db}-wal", f"{db}-shm"):
        assert os.path.exists(path), path
        assert mode(path) == 0o600, (path, oct(mode(path)))
    conn.close()


def test_an_existing_world_readable_store_is_narrowed(tmp_path):
    db = tmp_path / "chatwootai.db"
    connect(db).close()
    os.chmod(db, 0o644)
    connect(db).close()
    assert mode(db) == 0o600


def test_log_files_are_created_owner_only(tmp_path):
    from loguru import logger

    from app.logs import setup_logging
    from app.settings import Settings

    os.umask(0o022)
    settings = Settings.from_env({"WEBHOOK_AUTH_TOKEN": "tok-logs-1234", "LOG_DIR": str(tmp_path / "logs"),
                                  "DATA_DIR": str(tmp_path / "data")})
    setup_logging(settings, component="worker", filename="hub.log")
    logger.info("one line")
    path = tmp_path / "logs" / "hub.log"
    assert "one line" in path.read_text()
    assert mode(path) == 0o600
    logger.remove()
