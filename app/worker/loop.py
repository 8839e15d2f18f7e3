"""The worker program's loop: find conversations with work, claim them, work them in parallel.

- A conversation is ready when it has unsent outbox rows that are due, or pending events whose
  newest answerable message is older than COALESCE_WINDOW_MS (a burst becomes one turn).
- At most WORKER_CONCURRENCY conversations are worked at once; one conversation is never
  worked twice at once (in this process: the in-flight set; across processes: the lease).
- A heartbeat renews this worker's leases; /ready reads it; a worker that stops beating loses
  its leases within HEARTBEAT_DEAD_S, so a crash loses nothing and delays little.
- SIGTERM: stop claiming, finish the conversations in flight, then exit.
- At rest the worker sleeps: the web wakes it over a local socket when it stores an event
  (`app/store/wake.py`), and a slow poll (IDLE_POLL_S) covers a lost wake-up. Timers it knows
  of (a coalescing window ending, a retry falling due) wake it on time.
- A conversation whose turn fails is retried with backoff, holds no slot while it waits, and
  has its events dead-lettered after repeated identical failures (`failures.py`).
- A store that cannot write (a full disk) stops nothing for good: every write the loop needs
  (heartbeat, lease release) is retried until it works, so space coming back means replies.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
import uuid
from typing import Any

from loguru import logger

from app.client import ChatwootClient
from app.hub.types import HubService
from app.settings import Settings
from app.store import conversations
from app.store.db import Connection, DatabaseError
from app.store.wake import WakeListener
from app.store.worker_store import (
    conversations_with_work,
    next_outbox_attempt,
    oldest_pending_message_since,
    open_worker_store,
)
from app.worker.failures import FailureTracker
from app.worker.retention import Retention
from app.worker.sender import OutboxSender
from app.worker.turn import ConversationWorker

IDLE_POLL_S = 1.0  # the fallback when no wake-up arrives; also how often timers are re-read
MAX_BURST_WINDOWS = 4  # a burst is answered at the latest 4 coalescing windows after it began
DRAIN_TIMEOUT_S = 25.0  # supervisord's stopwaitsecs must be longer
KNOWLEDGE_CHECK_S = 2.0  # how soon an edited knowledge file is loaded (or its error shown in /ready)


def build_clients(settings: Settings, conn: Connection) -> tuple[Any, Any, Any]:
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
    def __init__(self, settings: Settings, *, hub: Any | None = None, failures: FailureTracker | None = None):
        self.settings = settings
        self.id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self._hub: HubService | None = hub
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._in_flight: dict[tuple[int, int], asyncio.Task] = {}
        self._unreleased: set[tuple[int, int]] = set()  # leases whose release could not be written
        self.failures = failures or FailureTracker()
        self.started_at = time.time()
        self.progress_at = time.time()  # last time it finished a conversation or had nothing to take
        self._store_error: str | None = None
        self._beat_error: str | None = None

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    def wake(self) -> None:
        self._wake.set()

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
        listener = self._listen(loop)
        self.failures.load(conn)
        conversations.heartbeat(conn, self.id, os.getpid(), self.started_at, 0)
        beat = asyncio.create_task(self._beat(conn))
        retention = Retention(settings.db_path, settings.retention_days)
        pruning = asyncio.create_task(retention.run())
        watch = asyncio.create_task(self._watch_knowledge())
        logger.info(
            "worker {} started: concurrency {}, coalescing {} ms, Chatwoot {}, LLM {}, retention {} days, wake-ups {}",
            self.id,
            settings.worker_concurrency,
            settings.coalesce_window_ms,
            "configured" if client else "NOT configured (decisions are recorded, not sent)",
            settings.llm_model or "none (offline responder)",
            settings.retention_days,
            "on" if listener else f"off (polling every {IDLE_POLL_S:.0f} s)",
        )
        try:
            while not self._stopping.is_set():
                self._wake.clear()  # before looking: a wake-up during the look is not lost
                timeout = IDLE_POLL_S
                try:
                    self._release_leftovers(conn)
                    due = self._claim_ready(conn, worker)
                    if due is not None:
                        timeout = min(IDLE_POLL_S, max(0.001, due - time.time()))
                    if self._store_error is not None:
                        logger.info("the store answers again; looking for work as usual")
                        self._store_error = None
                except DatabaseError as exc:
                    # A store that is busy or cannot write: keep the program, try again shortly.
                    if self._store_error is None:
                        logger.warning("could not look for work: {}; retrying every second", exc)
                    self._store_error = str(exc)
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout)
                except TimeoutError:
                    pass
        finally:
            retention.stop()
            await self._drain()
            beat.cancel()
            watch.cancel()
            pruning.cancel()
            if listener is not None:
                listener.close()
            self._release_leftovers(conn)
            try:
                conversations.stop_beating(conn, self.id)
            except DatabaseError as exc:
                logger.warning("could not release this worker's leases at exit: {}", exc)
            for c in (client, admin, typing):
                if c is not None:
                    await c.aclose()
            self._hub.close()
            conn.close()
            logger.info("worker {} stopped", self.id)

    def _listen(self, loop: asyncio.AbstractEventLoop) -> WakeListener | None:
        try:
            listener = WakeListener(self.settings.db_path, self.wake)
            listener.attach(loop)
            return listener
        except OSError as exc:
            logger.warning("no wake-up socket ({}): polling the store every {:.0f} s", exc, IDLE_POLL_S)
            return None

    def _claim_ready(self, conn: Connection, worker: ConversationWorker) -> float | None:
        """Start work on ready conversations; return when the next known timer falls due."""
        now = time.time()
        free = self.settings.worker_concurrency - len(self._in_flight)
        waiting = False
        for key in self.ready_conversations(conn, now):
            if key in self._in_flight or self.failures.waiting(key, now):
                continue
            waiting = True
            if free <= 0:
                break
            if not conversations.claim(conn, key[0], key[1], self.id, now):
                continue  # another worker holds it
            self._unreleased.discard(key)
            task = asyncio.create_task(self._work(conn, worker, key), name=f"conversation-{key[0]}-{key[1]}")
            self._in_flight[key] = task
            free -= 1
        if not waiting:
            self.progress_at = now  # nothing it could take is waiting: idle is progress
        return self._next_due(conn, now)

    def _next_due(self, conn: Connection, now: float) -> float | None:
        """The earliest moment something not ready now becomes ready."""
        window = self.settings.coalesce_window_ms / 1000
        dues = [self.failures.next_retry(now)]
        if window:
            # The oldest message still inside a window: no conversation becomes ready before its
            # window ends (waking early only costs one more look).
            oldest = oldest_pending_message_since(conn, now - window)
            if oldest is not None:
                dues.append(oldest + window)
        dues.append(next_outbox_attempt(conn, now))
        return min((d for d in dues if d is not None), default=None)

    def ready_conversations(self, conn: Connection, now: float) -> list[tuple[int, int]]:
        window = self.settings.coalesce_window_ms / 1000
        # A conversation whose earlier request waits for its next attempt is not among them.
        rows = conversations_with_work(conn, now)
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

    async def _work(self, conn: Connection, worker: ConversationWorker, key: tuple[int, int]) -> None:
        try:
            self.failures.attempt_starting(conn, key)
            await worker.run(*key)
            self.failures.succeeded(conn, key)
            self.progress_at = time.time()
        except Exception as exc:  # noqa: BLE001 - one conversation's failure must not stop the others
            self.failures.failed(conn, key, exc)
        finally:
            # The slot is free whatever happens next: a release that cannot be written (a full
            # disk) is retried by the loop, never allowed to keep the slot.
            self._in_flight.pop(key, None)
            self._unreleased.add(key)
            self._release_leftovers(conn)
            self._wake.set()

    def _release_leftovers(self, conn: Connection) -> None:
        for key in list(self._unreleased):
            if key in self._in_flight:
                self._unreleased.discard(key)
                continue
            try:
                conversations.release(conn, key[0], key[1], self.id)
            except DatabaseError:
                return  # the store cannot write yet; the loop tries again
            self._unreleased.discard(key)

    async def _beat(self, conn: Connection) -> None:
        while True:
            await asyncio.sleep(conversations.HEARTBEAT_S)
            try:
                conversations.heartbeat(conn, self.id, os.getpid(), self.started_at, len(self._in_flight),
                                        self.progress_at)
            except DatabaseError as exc:
                if self._beat_error is None:
                    logger.warning("heartbeat not recorded: {}", exc)
                self._beat_error = str(exc)
                continue
            if self._beat_error is not None:
                logger.info("heartbeat recorded again (it had failed: {})", self._beat_error)
                self._beat_error = None

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
