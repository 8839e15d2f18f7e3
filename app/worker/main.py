"""`chatwootai worker`: the worker program."""

from __future__ import annotations

import asyncio

from app.logs import setup_logging
from app.settings import Settings
from app.worker.loop import Worker


def run_worker(settings: Settings) -> int:
    setup_logging(settings, component="worker", filename="hub.log")
    asyncio.run(Worker(settings).run())
    return 0
