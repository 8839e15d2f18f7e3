"""RETENTION_DAYS: the worker deletes what is older, a little at a time, beside its real work.

What is deleted and what is kept whatever its age: `app/store/retention.py` (`prune`). This task
runs it every EVERY_S in a thread on its own connection, so a batch's short transaction never
holds the worker's loop.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

from loguru import logger

from app.store.db import DatabaseError, connect
from app.store.retention import prune

EVERY_S = 600.0
FIRST_AFTER_S = 30.0  # not at the very start: the worker's first turns come first
DAY_S = 86_400.0


class Retention:
    """The worker's pruning task: every EVERY_S, in a thread, on its own connection."""

    def __init__(self, db_path: Path, days: int, *, every_s: float = EVERY_S, first_after_s: float = FIRST_AFTER_S):
        self.db_path, self.days = db_path, days
        self.every_s, self.first_after_s = every_s, first_after_s
        self._stop = threading.Event()
        self._failing = False

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        if self.days <= 0:
            return  # RETENTION_DAYS=0: keep everything
        await asyncio.sleep(self.first_after_s)
        while not self._stop.is_set():
            try:
                counts = await asyncio.to_thread(self.prune_once)
            except DatabaseError as exc:
                if not self._failing:
                    logger.warning("retention: could not delete old rows: {}; trying again later", exc)
                self._failing = True
            else:
                self._failing = False
                if any(counts.values()):
                    logger.info("retention: deleted rows older than {} days: {}", self.days,
                                ", ".join(f"{k} {v}" for k, v in counts.items() if v))
            await asyncio.sleep(self.every_s)

    def prune_once(self) -> dict[str, int]:
        conn = connect(self.db_path)
        try:
            return prune(conn, time.time() - self.days * DAY_S, should_stop=self._stop.is_set)
        finally:
            conn.close()
