"""Sends a conversation's outbox rows to Chatwoot, in order, each at most once.

Per row: 2xx → sent; another 4xx → dead letter (retrying cannot fix it); retries exhausted by
the client (429/5xx/network) → the row waits with exponential backoff across rounds and the
conversation's newer work waits behind it; after MAX_ROUNDS rounds it is dead-lettered too.
Typing indicators are best effort and never stored: a lost "typing" is not worth a retry.
"""

from __future__ import annotations

import random
import sqlite3
import time

from loguru import logger

from app.chatwoot import api
from app.client import ChatwootClient, ChatwootRejected, ChatwootUnavailable
from app.store import conversations, outbox

MAX_ROUNDS = 6
ROUND_BACKOFF_S = 5.0
ROUND_BACKOFF_MAX_S = 300.0
MAYBE_SENT = "no answer after Chatwoot received it: it may or may not have been posted; replay only if " \
    "the customer did not get it"
INTERRUPTED = (
    "interrupted while sending (the worker stopped mid-request): Chatwoot may or may not have "
    "posted it; replay only if the customer did not get it"
)


class OutboxSender:
    def __init__(
        self,
        conn: sqlite3.Connection,
        client: ChatwootClient | None,
        *,
        admin_client: ChatwootClient | None = None,
        typing_client: ChatwootClient | None = None,
        round_backoff_s: float = ROUND_BACKOFF_S,
    ):
        self.conn = conn
        self.round_backoff_s = round_backoff_s
        self.client = client
        self.admin_client = admin_client
        self.typing_client = typing_client or client
        self._started_here: set[int] = set()  # rows this process marked `sending`

    async def typing(self, account_id: int, conversation_id: int, *, on: bool) -> None:
        if self.typing_client is None:
            return
        try:
            await self.typing_client.send(api.toggle_typing(account_id, conversation_id, on))
        except (ChatwootRejected, ChatwootUnavailable) as exc:
            logger.bind(account=account_id, conversation=conversation_id).warning("typing indicator: {}", exc)

    async def flush(self, account_id: int, conversation_id: int) -> bool:
        """Send what is due; True when nothing is left waiting for this conversation."""
        log = logger.bind(account=account_id, conversation=conversation_id)
        for row in outbox.open_rows(self.conn, account_id, conversation_id):
            log = log.bind(turn=row.turn_id)
            if row.state == "sending" and row.id not in self._started_here:
                letter = outbox.dead_letter(self.conn, row, None, INTERRUPTED)
                log.warning("{} was interrupted mid-request: dead letter {} (not re-sent)", row.purpose, letter)
                continue
            if row.next_attempt_at > time.time():
                return False
            if self.client is None:
                outbox.mark_skipped(self.conn, row, "Chatwoot is not configured")
                log.warning("{} not sent: Chatwoot is not configured (CHATWOOT_BASE_URL/API_KEY/ACCOUNT_ID)",
                            row.purpose)
                if row.request.json and "content" in row.request.json:
                    log.debug("unsent {}: {}", row.purpose, row.request.json["content"])
                continue
            if not await self._send(row, log):
                return False
        return True

    async def _send(self, row: outbox.OutboxRow, log) -> bool:
        if row.purpose in outbox.NOT_IDEMPOTENT:
            outbox.mark_sending(self.conn, row.id)
            self._started_here.add(row.id)
        try:
            answer = await self._deliver(row)
        except ChatwootRejected as exc:
            letter = outbox.dead_letter(self.conn, row, exc.status, str(exc))
            conversations.bump(self.conn, "dead_letters")
            log.error("{} rejected by Chatwoot (HTTP {}): dead letter {}", row.purpose, exc.status, letter)
            return True
        except ChatwootUnavailable as exc:
            if exc.maybe_sent:
                # At most once: a message that may already be in the conversation is not sent
                # again blindly; an operator can check and replay it.
                letter = outbox.dead_letter(self.conn, row, None, f"{MAYBE_SENT}: {exc.last_error}")
                conversations.bump(self.conn, "dead_letters")
                log.error("{} may or may not have reached Chatwoot: dead letter {}", row.purpose, letter)
                return True
            rounds = row.attempts + 1  # `row` was read before this round started
            if rounds >= MAX_ROUNDS:
                letter = outbox.dead_letter(self.conn, row, exc.status, str(exc))
                conversations.bump(self.conn, "dead_letters")
                log.error("{} failed {} rounds: dead letter {}", row.purpose, rounds, letter)
                return True
            delay = min(ROUND_BACKOFF_MAX_S, self.round_backoff_s * 2 ** (rounds - 1)) * random.uniform(0.5, 1.0)
            outbox.mark_retry(self.conn, row, str(exc), time.time() + delay)
            log.warning("{} not sent ({}); next round in {:.0f} s", row.purpose, exc.last_error, delay)
            return False
        finally:
            self._started_here.discard(row.id)
        chatwoot_id = answer.get("id") if isinstance(answer, dict) else None
        outbox.mark_sent(self.conn, row, chatwoot_id if isinstance(chatwoot_id, int) else None)
        log.info("{} sent{}", row.purpose, f" (message {chatwoot_id})" if chatwoot_id else "")
        return True

    async def _deliver(self, row: outbox.OutboxRow):
        assert self.client is not None
        try:
            return await self.client.send(row.request)
        except ChatwootRejected as exc:
            # Chatwoot before v4.x refuses labels to agent-bot tokens; the admin token may set them.
            if exc.status == 401 and row.purpose == "labels" and self.admin_client is not None:
                return await self.admin_client.send(row.request)
            raise
