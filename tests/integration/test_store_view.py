"""The facts the end-to-end tests wait on instead of sleeping (tests/integration/store_view.py)."""

import pytest

from tests.integration.store_view import open_read_only, unfinished


def test_wait_worked_waits_for_the_worker_and_says_what_is_left(appliance):
    app = appliance()
    assert app.worker.stop() == 0
    app.customer_says(131, "vocês aceitam pix?")
    # Nobody works the inbox: waiting fails, naming what is left, instead of passing by the clock.
    with pytest.raises(AssertionError, match=r"131.*1 event\(s\) pending"):
        app.wait_worked(131, timeout=1.0)
    app.start_worker()
    app.wait_worked(131)
    assert len(app.replies(131)) == 1


def test_the_view_is_read_only(appliance):
    import sqlite3

    app = appliance()
    conn = open_read_only(app.tmp / "data")
    assert unfinished(conn, 132) == []
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        conn.execute("DELETE FROM events")
    conn.close()
