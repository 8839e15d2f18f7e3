"""Shared by the Chatwoot chaos and LLM outage tests (issue 11's reliability suite): real web and
worker programs against the fakes, things broken on purpose, seeded, bounded in time; each test
prints one summary line with its figures (`pytest -s` shows them).

The appliance is the integration suite's (`tests/integration/conftest.py`). The fixtures are
plain generators here, wrapped in each test module, so this file never collides with a
`conftest.py` of the directory."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator

from tests.fakes.chatwoot import ChatwootFake, checked_fake
from tests.integration.conftest import ADMIN_TOKEN, BOT_TOKEN, Appliance, appliances  # noqa: F401 - re-exported

__all__ = ["ADMIN_TOKEN", "BOT_TOKEN", "Appliance", "appliances", "chatwoot_fake", "store_quiet", "wait_until"]


def chatwoot_fake() -> Iterator[ChatwootFake]:
    # hang_seconds bounds how long a "never answers" handler thread lingers after the test.
    with checked_fake(bot_tokens=(BOT_TOKEN,), user_tokens=(ADMIN_TOKEN,), hang_seconds=15) as fake:
        yield fake


def store_quiet(app: Appliance) -> bool:
    """Nothing left to do: every event worked and every outbox row settled."""
    conn = sqlite3.connect(f"file:{app.tmp / 'data' / 'chatwootai.db'}?mode=ro", uri=True, timeout=5)
    try:
        pending = conn.execute("SELECT count(*) FROM events WHERE state = 'pending'").fetchone()[0]
        unsent = conn.execute("SELECT count(*) FROM outbox WHERE state IN ('pending', 'sending')").fetchone()[0]
        return pending == 0 and unsent == 0
    finally:
        conn.close()


def wait_until(condition: Callable[[], bool], timeout: float, what: str, *, every: float = 0.2) -> float:
    """Seconds it took for `condition()` to hold; AssertionError naming `what` after `timeout`."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what}: not within {timeout:.0f} s")
        time.sleep(every)
    return time.monotonic() - started


def summary(name: str, **figures: object) -> str:
    """Print the one summary line of a test: `name: figure value, ...` (underscores become spaces)."""
    line = f"[reliability] {name}: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in figures.items())
    print("\n" + line)
    return line
