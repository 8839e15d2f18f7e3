"""Sends a conversation's outbox rows to Chatwoot, in order, each at most once.

Per row: 2xx → sent; another 4xx → dead letter (retrying cannot fix it); retries exhausted by
the client (429/5xx/network) → the row waits with exponential backoff across rounds and the
conversation's newer work waits behind it; after MAX_ROUNDS rounds it is dead-lettered too.
Typing indicators are best effort and never stored: a lost "typing" is not worth a retry.

At most once (a message POST, or any request that is not `Request.idempotent`): every
ambiguous outcome — a 5xx, a timeout, a dropped connection, a crash while in flight (the row
found `sending`) — is settled the same way: look at what Chatwoot holds (`confirm.py`; the
conversation with the bot token, the message list with the admin token) and send again only
when our message is not there. When that cannot be told, the row is dead-lettered as "may have
been posted"; it is never sent blind. When Chatwoot cannot be read at all, the row stays
`sending` and the next round looks again.
"""

from __future__ import annotations

import random
import time

from loguru import logger

from app.chatwoot import api
from app.client import ChatwootClient, ChatwootRejected, ChatwootUnavailable, Confirm, DeliveryUnknown
from app.store import conversations, outbox
from app.store.db import Connection
from app.worker import confirm

MAX_ROUNDS = 6
ROUND_BACKOFF_S = 5.0
ROUND_BACKOFF_MAX_S = 300.0
MAYBE_SENT = "no clear answer after Chatwoot received it, and what Chatwoot shows does not settle it: it may " \
    "have been posted; replay only if the customer did not get it"
INTERRUPTED = (
    "interrupted while sending (the worker stopped mid-request) and what Chatwoot shows does not settle "
    "whether it was posted; replay only if the customer did not get it"
)
NO_LIST = "the message list is not readable with this token (set CHATWOOT_ADMIN_API_KEY to an admin token)"


class OutboxSender:
    def __init__(
        self,
        conn: Connection,
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
        self._list_refused = False  # the token we list messages with got 401 once: do not ask again

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
            if row.next_attempt_at > time.time():
                return False
            if self.client is None:
                outbox.mark_skipped(self.conn, row, "Chatwoot is not configured")
                log.warning("{} not sent: Chatwoot is not configured (CHATWOOT_BASE_URL/API_KEY/ACCOUNT_ID)",
                            row.purpose)
                if row.request.json and "content" in row.request.json:
                    log.debug("unsent {}: {}", row.purpose, row.request.json["content"])
                continue
            if row.state == "sending":
                # An attempt never settled (a crash while in flight, or Chatwoot unreadable last
                # round): look before sending anything.
                settled = await self._settle_leftover(row, log)
                if settled is None:
                    return False
                if settled:
                    continue
            if not await self._send(row, log):
                return False
        return True

    async def _settle_leftover(self, row: outbox.OutboxRow, log) -> bool | None:
        """True: settled (found, or dead-lettered); False: not in Chatwoot, send it; None: wait."""
        try:
            found = await self._confirm(row, log)()
        except DeliveryUnknown as exc:
            if exc.look_again:  # this look was a round too
                return True if self._wait(row, f"unsettled attempt: {exc}", log, maybe_sent=True,
                                          new_round=True) else None
            self._dead(row, None, f"{INTERRUPTED}: {exc}", log)
            return True
        if found is not None:
            self._sent(row, found, log, note="found in Chatwoot after an unfinished attempt, not sent again")
            return True
        return False

    async def _send(self, row: outbox.OutboxRow, log) -> bool:
        if not row.request.idempotent:
            outbox.mark_sending(self.conn, row.id)
        try:
            answer = await self._deliver(row, log)
        except ChatwootRejected as exc:
            self._dead(row, exc.status, str(exc), log, what=f"rejected by Chatwoot (HTTP {exc.status})")
            return True
        except ChatwootUnavailable as exc:
            if exc.maybe_sent and not exc.look_again:
                # At most once: a message that may already be in the conversation is not sent
                # again blindly; an operator can check and replay it.
                self._dead(row, None, f"{MAYBE_SENT}: {exc.last_error}", log, what="may have reached Chatwoot")
                return True
            return self._wait(row, exc.last_error, log, maybe_sent=exc.maybe_sent, status=exc.status)
        self._sent(row, answer, log)
        return True

    def _wait(self, row: outbox.OutboxRow, error: str, log, *, maybe_sent: bool, status: int | None = None,
              new_round: bool = False) -> bool:
        """Another round later, with backoff; after MAX_ROUNDS rounds a dead letter (True)."""
        rounds = row.attempts + 1  # `row` was read before this round started
        if rounds >= MAX_ROUNDS:
            text = f"{MAYBE_SENT}: {error}" if maybe_sent else error
            self._dead(row, status, text, log, what=f"failed {rounds} rounds")
            return True
        delay = min(ROUND_BACKOFF_MAX_S, self.round_backoff_s * 2 ** (rounds - 1)) * random.uniform(0.5, 1.0)
        if maybe_sent:
            outbox.mark_unsure(self.conn, row, error, time.time() + delay, new_round=new_round)
            log.warning("{} may have been posted and Chatwoot cannot be read ({}); looking again in {:.0f} s",
                        row.purpose, error, delay)
        else:
            outbox.mark_retry(self.conn, row, error, time.time() + delay)
            log.warning("{} not sent ({}); next round in {:.0f} s", row.purpose, error, delay)
        return False

    def _sent(self, row: outbox.OutboxRow, answer, log, *, note: str = "") -> None:
        chatwoot_id = answer.get("id") if isinstance(answer, dict) else None
        chatwoot_id = chatwoot_id if isinstance(chatwoot_id, int) else None
        outbox.mark_sent(self.conn, row, chatwoot_id)
        log.info("{} sent{}{}", row.purpose, f" (message {chatwoot_id})" if chatwoot_id else "",
                 f": {note}" if note else "")

    def _dead(self, row: outbox.OutboxRow, status: int | None, error: str, log, *, what: str = "") -> None:
        letter = outbox.dead_letter(self.conn, row, status, error)
        conversations.bump(self.conn, "dead_letters")
        log.error("{} {}: dead letter {}{}", row.purpose, what or "could not be settled", letter,
                  "" if what else f" ({error})")

    async def _deliver(self, row: outbox.OutboxRow, log):
        assert self.client is not None
        check = None if row.request.idempotent else self._confirm(row, log)
        try:
            return await self.client.send(row.request, confirm=check)
        except ChatwootRejected as exc:
            # Chatwoot before v4.x refuses labels to agent-bot tokens; the admin token may set them.
            if exc.status == 401 and row.purpose == "labels" and self.admin_client is not None:
                return await self.admin_client.send(row.request)
            raise

    def _confirm(self, row: outbox.OutboxRow, log) -> Confirm:
        """The client's `confirm` for `row`: our message as Chatwoot holds it, None, or DeliveryUnknown."""
        body = row.request.json or {}
        a, c = row.account_id, row.conversation_id

        async def look() -> dict | None:
            assert self.client is not None
            anchors, since = outbox.delivery_evidence(self.conn, row)
            expected = confirm.Expected(str(body.get("content", "")), bool(body.get("private")), anchors, since)
            verdict, message = confirm.from_conversation(await self._read(self.client, api.get_conversation(a, c)),
                                                         expected)
            if verdict == confirm.UNKNOWN:
                lister = self.admin_client or self.client
                if self._list_refused and lister is self.client:
                    raise DeliveryUnknown(f"someone wrote after the attempt; {NO_LIST}")
                try:
                    listing = await self._read(lister, api.list_messages(a, c))
                except DeliveryUnknown as exc:
                    if lister is self.client and "HTTP 401" in str(exc):
                        self._list_refused = True
                        raise DeliveryUnknown(f"someone wrote after the attempt; {NO_LIST}") from None
                    raise
                verdict, message = confirm.from_messages(listing, expected)
            if verdict == confirm.POSTED:
                log.info("{} is in Chatwoot (message {}): not sent again", row.purpose, message.get("id"))
                return message
            if verdict == confirm.ABSENT:
                log.info("{} is not in Chatwoot: sending it again", row.purpose)
                return None
            raise DeliveryUnknown("Chatwoot's newest messages do not show whether it was posted")

        return look

    @staticmethod
    async def _read(client: ChatwootClient, request: api.Request):
        try:
            return await client.send(request)
        except ChatwootRejected as exc:
            raise DeliveryUnknown(f"{request.purpose} refused: HTTP {exc.status}: {exc.error}") from None
        except ChatwootUnavailable as exc:
            raise DeliveryUnknown(f"{request.purpose} failed: {exc.last_error}", look_again=True) from None
