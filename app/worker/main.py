"""`chatwootai worker`: the worker program."""

from __future__ import annotations

import asyncio
import sys

from app.logs import setup_logging
from app.settings import Settings
from app.store.knowledge import KnowledgeError, parse_knowledge_dir
from app.worker.loop import Worker


def run_worker(settings: Settings) -> int:
    # A knowledge directory that cannot be loaded stops the start, like a bad variable: one line
    # naming file and line, exit 2. Running on with an empty store would hand every question to
    # a human with only a warning to show for it. (Later broken edits keep the previous data.)
    try:
        parse_knowledge_dir(settings.knowledge_dir)
    except KnowledgeError as exc:
        print(f"chatwootai: knowledge error in {settings.knowledge_dir}: {exc}", file=sys.stderr)
        return 2
    setup_logging(settings, component="worker", filename="hub.log")
    asyncio.run(Worker(settings).run())
    return 0
