"""`chatwootai dead-letters list|replay ID|drop ID`: what failed for good, and what to do with it.

Two kinds of dead letter: a Chatwoot request that failed for good (replay sends it again), and
an event whose conversation's turn kept failing (replay puts it back in the worker's queue).
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from app.client import ChatwootClient, ChatwootRejected, ChatwootUnavailable
from app.settings import Settings
from app.store import outbox
from app.store.worker_store import open_worker_store


def dead_letters_command(settings: Settings, action: str, letter_id: int | None) -> int:
    conn = open_worker_store(settings.db_path)
    try:
        if action == "list":
            return _list(conn)
        if letter_id is None:
            print(f"chatwootai: dead-letters {action} needs the ID of a dead letter (see `dead-letters list`)")
            return 2
        if action == "drop":
            return _drop(conn, letter_id)
        return asyncio.run(_replay(settings, conn, letter_id))
    finally:
        conn.close()


def _list(conn) -> int:
    letters = outbox.list_dead_letters(conn)
    if not letters:
        print("no dead letters")
        return 0
    print(f"{'ID':>4}  {'when':19}  {'conversation':>12}  {'purpose':15}  {'status':>6}  error / replay")
    for row in letters:
        when = datetime.fromtimestamp(row["created_at"]).strftime("%Y-%m-%d %H:%M:%S")
        replay = f"  [replayed: {row['replay_result']}]" if row["replayed_at"] else ""
        conversation = f"{row['account_id']}/{row['conversation_id']}"
        purpose = f"event {row['event_id']}" if row["event_id"] is not None else row["purpose"]
        print(f"{row['id']:>4}  {when}  {conversation:>12}  {purpose:15}  "
              f"{row['status'] or '-':>6}  {row['error'][:90]}{replay}")
    return 0


def _drop(conn, letter_id: int) -> int:
    if not outbox.drop_dead_letter(conn, letter_id):
        print(f"chatwootai: no dead letter with ID {letter_id}")
        return 1
    print(f"dead letter {letter_id} dropped")
    return 0


async def _replay(settings: Settings, conn, letter_id: int) -> int:
    row = outbox.get_dead_letter(conn, letter_id)
    if row is None:
        print(f"chatwootai: no dead letter with ID {letter_id}")
        return 1
    if row["event_id"] is not None:
        if not outbox.requeue_event(conn, row):
            print(f"chatwootai: dead letter {letter_id}: event {row['event_id']} is no longer stored or not dead")
            return 1
        print(f"dead letter {letter_id}: event {row['event_id']} is back in the worker's queue")
        return 0
    if not settings.chatwoot_configured:
        print("chatwootai: Chatwoot is not configured (CHATWOOT_BASE_URL, CHATWOOT_API_KEY, CHATWOOT_ACCOUNT_ID)")
        return 1
    request = outbox.dead_letter_request(row)
    async with ChatwootClient(settings.chatwoot_base_url, settings.chatwoot_api_key) as client:
        try:
            await client.send(request)
        except (ChatwootRejected, ChatwootUnavailable) as exc:
            outbox.mark_replayed(conn, letter_id, f"failed: {exc}")
            print(f"replay of dead letter {letter_id} failed: {exc}")
            return 1
    outbox.mark_replayed(conn, letter_id, "sent")
    print(f"dead letter {letter_id} replayed: {request.describe()} sent")
    return 0
