"""The worker program's loop: find conversations with work, claim them, work them in parallel.

- A conversation is ready when it has unsent outbox rows that are due, or pending events whose
  newest answerable message is older than COALESCE_WINDOW_MS (a burst becomes one turn).
- At most WORKER_CONCURRENCY conversations are worked at once; one conversation is never
  worked twice at once (in this process: the in-flight set; across processes: the lease).
- A heartbeat renews this worker's leases; /ready reads it; a worker that stops beating loses
  its leases within HEARTBEAT_DEAD_S, so a crash loses nothing and delays little.
- SIGTERM: stop claiming, finish the conversations in flight, then exit.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import time
import uuid
from typing import Any

from loguru import logger

from app.client import ChatwootClient
from app.hub.types import HubService
from app.settings import Settings
from app.store import conversations
from app.store.db import connect, migrate
from app.store.inbox import INBOX_MIGRATIONS
from app.worker.sender import OutboxSender
from app.worker.turn import ConversationWorker

POLL_S = 0.01
MAX_BURST_WINDOWS = 4  # a burst is answered at the latest 4 coalescing windows after it began
DRAIN_TIMEOUT_S = 25.0  # supervisord's stopwaitsecs must be longer
KNOWLEDGE_CHECK_S = 2.0  # how soon an edited knowledge file is loaded (or its error shown in /ready)


def open_worker_store(path) -> sqlite3.Connection:
    conn = connect(path)
    migrate(conn, "inbox", INBOX_MIGRATIONS)
    migrate(conn, "worker", conversations.WORKER_MIGRATIONS)
    return conn


def build_clients(settings: Settings, conn: sqlite3.Connection) -> tuple[Any, Any, Any]:
    """(client, admin client, typing client), or Nones when Chatwoot is not configured."""
    if not settings.chatwoot_configured:
        return None, None, None

    def on_retry(request, attempt, reason) -> None:
        conversations.bump(conn, "chatwoot_retries")
        logger.warning("Chatwoot {} attempt {} failed ({}); retrying", request.purpose, attempt, reason)

    client = ChatwootClient(settings.chatwoot_base_url, settings.chatwoot_api_key, on_retry=on_retry)
    admin = None
    if settings.chatwoot_admin_api_key and settings.chatwoot_admin_api_key != settings.chatwoot_api_key:
        admin = ChatwootClient(settings.chatwoot_base_url, settings.chatwoot_admin_api_key, on_retry=on_retry)
    # Typing indicators are cosmetic: one quick try, never a reason to delay the reply.
    typing = ChatwootClient(settings.chatwoot_base_url, settings.chatwoot_api_key, timeout=3.0, max_attempts=1)
    return client, admin, typing


class Worker:
    def __init__(self, settings: Settings, *, hub: Any | None = None):
        self.settings = settings
        self.id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self._hub: HubService | None = hub
        self._stopping = asyncio.Event()
        self._in_flight: dict[tuple[int, int], asyncio.Task] = {}
        self.started_at = time.time()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        settings = self.settings
        conn = open_worker_store(settings.db_path)
        if self._hub is None:
            from app.hub.hub import Hub

            self._hub = Hub(settings)
        client, admin, typing = build_clients(settings, conn)
        sender = OutboxSender(conn, client, admin_client=admin, typing_client=typing)
        worker = ConversationWorker(settings, conn, self._hub, sender)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, self.stop)
            except (NotImplementedError, RuntimeError):
                pass  # not the main thread (tests run the loop elsewhere)
        conversations.heartbeat(conn, self.id, os.getpid(), self.started_at, 0)
        beat = asyncio.create_task(self._beat(conn))
        watch = asyncio.create_task(self._watch_knowledge())
        logger.info(
            "worker {} started: concurrency {}, coalescing {} ms, Chatwoot {}, LLM {}",
            self.id,
            settings.worker_concurrency,
            settings.coalesce_window_ms,
            "configured" if client else "NOT configured (decisions are recorded, not sent)",
            settings.llm_model or "none (offline responder)",
        )
        try:
            while not self._stopping.is_set():
                try:
                    self._claim_ready(conn, worker)
                except sqlite3.Error as exc:
                    # A store that is busy or briefly unwritable: keep the program, try again.
                    logger.warning("could not look for work: {}", exc)
                    await asyncio.sleep(1.0)
                try:
                    await asyncio.wait_for(self._stopping.wait(), POLL_S)
                except TimeoutError:
                    pass
        finally:
            await self._drain()
            beat.cancel()
            watch.cancel()
            conversations.stop_beating(conn, self.id)
            for c in (client, admin, typing):
                if c is not None:
                    await c.aclose()
            self._hub.close()
            conn.close()
            logger.info("worker {} stopped", self.id)

    def _claim_ready(self, conn: sqlite3.Connection, worker: ConversationWorker) -> None:
        free = self.settings.worker_concurrency - len(self._in_flight)
        if free <= 0:
            return
        now = time.time()
        for key in self.ready_conversations(conn, now):
            if key in self._in_flight:
                continue
            if not conversations.claim(conn, key[0], key[1], self.id, now):
                continue  # another worker holds it
            task = asyncio.create_task(self._work(conn, worker, key), name=f"conversation-{key[0]}-{key[1]}")
            self._in_flight[key] = task
            free -= 1
            if free <= 0:
                return

    def ready_conversations(self, conn: sqlite3.Connection, now: float) -> list[tuple[int, int]]:
        window = self.settings.coalesce_window_ms / 1000
        rows = conn.execute(
            "SELECT account_id, conversation_id, min(id) AS first,"
            " max(CASE WHEN answerable = 1 THEN received_at END) AS newest,"
            " min(CASE WHEN answerable = 1 THEN received_at END) AS oldest"
            " FROM events e WHERE state = 'pending'"
            # A conversation whose earlier request waits for its next attempt waits with it.
            "  AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.account_id = e.account_id"
            "   AND o.conversation_id = e.conversation_id AND o.state IN ('pending', 'sending')"
            "   AND o.next_attempt_at > ?)"
            " GROUP BY account_id, conversation_id"
            " UNION ALL"
            " SELECT account_id, conversation_id, 0, NULL, NULL FROM outbox"
            " WHERE state IN ('pending', 'sending') AND next_attempt_at <= ?"
            " ORDER BY first",
            (now, now),
        ).fetchall()
        ready: list[tuple[int, int]] = []
        for row in rows:
            in_burst = row["newest"] is not None and now - row["newest"] < window
            # ...but a customer who never pauses still gets an answer after MAX_BURST_WINDOWS.
            waited_enough = row["oldest"] is not None and now - row["oldest"] >= window * MAX_BURST_WINDOWS
            if in_burst and not waited_enough:
                continue  # still inside the burst: wait for the customer to finish typing
            key = (row["account_id"], row["conversation_id"])
            if key not in ready:
                ready.append(key)
        return ready

    async def _work(self, conn: sqlite3.Connection, worker: ConversationWorker, key: tuple[int, int]) -> None:
        try:
            await worker.run(*key)
        except Exception as exc:  # noqa: BLE001 - one conversation's failure must not stop the others
            logger.bind(account=key[0], conversation=key[1]).opt(exception=exc).error(
                "conversation failed: {}; it will be retried", type(exc).__name__
            )
            await asyncio.sleep(1.0)  # do not spin on a conversation that fails every time
        finally:
            conversations.release(conn, key[0], key[1], self.id)
            self._in_flight.pop(key, None)

    async def _beat(self, conn: sqlite3.Connection) -> None:
        while True:
            await asyncio.sleep(conversations.HEARTBEAT_S)
            try:
                conversations.heartbeat(conn, self.id, os.getpid(), self.started_at, len(self._in_flight))
            except sqlite3.Error as exc:
                logger.warning("heartbeat not recorded: {}", exc)

    async def _watch_knowledge(self) -> None:
        if self._hub is None:  # run() builds the hub before it starts watching
            return
        refresh = self._hub.refresh_knowledge
        while True:
            await asyncio.sleep(KNOWLEDGE_CHECK_S)
            try:
                await asyncio.to_thread(refresh)
            except Exception as exc:  # noqa: BLE001 - a watcher must outlive one bad look
                logger.warning("knowledge check failed: {}", exc)

    async def _drain(self) -> None:
        if not self._in_flight:
            return
        logger.info("finishing {} conversation(s) in flight", len(self._in_flight))
        _, unfinished = await asyncio.wait(list(self._in_flight.values()), timeout=DRAIN_TIMEOUT_S)
        for task in unfinished:
            task.cancel()
