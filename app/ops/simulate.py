"""`chatwootai simulate "TEXT"`: one signed customer message through the running appliance.

It posts a `message_created` to the web program exactly as Chatwoot would (signature, token),
then follows that message through the store, read-only, printing each step the moment it is
seen, with the time it happened (from the store's own timestamps) relative to the send:
accepted → claimed → routed → decided → posted / not sent. `TurnTracker` is shared with `demo`.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

import httpx

from app.ops.payloads import local_base_url, message_created, new_message_id, post_webhook
from app.settings import Settings
from app.store import trace
from app.store.db import Connection, DatabaseError, connect_readonly

POLL_S = 0.02
FINAL = ("sent", "skipped", "dead")


@dataclass
class Step:
    name: str  # accepted | claimed | routed | decided | posted | not sent | failed | retrying | quiet
    at: float  # epoch seconds, from the store when it records the moment
    detail: str
    text: str | None = None  # the message text that was (or would have been) posted
    purpose: str | None = None


def crew_for(intent: str | None, settings: Settings) -> str:
    if not settings.llm_model:
        return "offline responder"
    if intent == "human":
        return "no crew (handoff)"
    try:
        from app.hub.crews import CREWS

        return f"{CREWS.get(intent or 'other', CREWS['other']).name} crew"
    except Exception:  # noqa: BLE001 - only a label
        return f"{intent} crew"


@dataclass
class TurnTracker:
    """Follows one stored event (by account and message id) to its turn and outbox rows."""

    settings: Settings
    account_id: int
    message_id: int
    conversation_id: int
    event_id: int | None = None
    turn_id: int | None = None
    claimed: bool = False
    decided: bool = False
    done: bool = False
    quiet: bool = False
    _reported: dict[int, str] = field(default_factory=dict)
    _conn: Connection | None = None

    def _db(self) -> Connection | None:
        if self._conn is None:
            path = self.settings.db_path
            if not path.exists():
                return None
            self._conn = connect_readonly(path)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def poll(self) -> list[Step]:
        """What happened since the last poll. Never raises for a store busy or not yet migrated."""
        try:
            conn = self._db()
            return self._poll(conn) if conn is not None else []
        except DatabaseError:  # busy, not migrated yet, or mid-checkpoint: look again next time
            return []

    def _poll(self, conn: Connection) -> list[Step]:
        steps: list[Step] = []
        event = trace.event_by_dedup_key(conn, f"{self.account_id}:{self.message_id}")
        if event is None:
            return steps
        self.event_id = event["id"]
        if not self.claimed and event["state"] == "pending":
            owner = trace.lease_owner(conn, self.account_id, self.conversation_id)
            if owner is not None:
                self.claimed = True
                steps.append(Step("claimed", time.time(), f"by worker {owner}"))
        if event["state"] != "done":
            return steps
        if event["turn_id"] is None:
            if not self.quiet:
                self.quiet = self.done = True
                steps.append(Step("quiet", time.time(), f"no turn: a human handles conversation {self.conversation_id},"
                                                        " the bot stays silent"))
            return steps
        turn = trace.turn(conn, event["turn_id"])
        if turn is None:
            return steps
        if not self.decided:
            self.turn_id = turn["id"]
            if not self.claimed:
                self.claimed = True
                steps.append(Step("claimed", turn["started_at"], "by the worker"))
            steps.append(Step("routed", turn["started_at"],
                              f"intent {turn['intent']} → {crew_for(turn['intent'], self.settings)}"))
            took = (turn["decided_at"] - turn["started_at"]) * 1000
            reason = f": {turn['reason']}" if turn["reason"] else ""
            steps.append(Step("decided", turn["decided_at"],
                              f"{turn['action']}, {turn['llm_calls']} LLM call(s), {took:.0f} ms{reason}"))
            self.decided = True
        steps += self._outbox(conn)
        if turn["finished_at"] is not None and all(s in FINAL for s in self._reported.values()):
            self.done = True
        return steps

    def _outbox(self, conn: Connection) -> list[Step]:
        steps = []
        for row in trace.turn_requests(conn, self.turn_id):
            state = row["state"]
            if self._reported.get(row["id"]) == state:
                continue
            body = json.loads(row["body"]) if row["body"] else {}
            text = body.get("content") if isinstance(body, dict) else None
            if isinstance(body, dict) and "labels" in body:
                text = ", ".join(body["labels"])
            purpose = row["purpose"]
            if state == "sent":
                what = f" (Chatwoot message {row['chatwoot_id']})" if row["chatwoot_id"] else ""
                steps.append(Step("posted", row["sent_at"] or time.time(), f"{purpose}{what}", text, purpose))
            elif state == "skipped":
                steps.append(Step("not sent", time.time(), f"{purpose}: no Chatwoot configured", text, purpose))
            elif state == "dead":
                steps.append(Step("failed", time.time(), f"{purpose}: dead letter: {row['last_error']}", text, purpose))
            elif state == "pending" and row["last_error"]:
                steps.append(Step("retrying", time.time(), f"{purpose}: {row['last_error']}", None, purpose))
            else:
                continue
            self._reported[row["id"]] = state
        return steps


def _answer_status(settings: Settings) -> str:
    statuses = settings.bot_conversation_statuses
    return "pending" if "pending" in statuses else sorted(statuses)[0]


def simulate_command(settings: Settings, args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    account = settings.chatwoot_account_id or 1
    conversation = args.conversation or random.randint(900_000_000, 999_999_999)  # noqa: S311
    message_id = new_message_id()
    payload = message_created(account_id=account, conversation_id=conversation, message_id=message_id,
                              content=args.text, sender_name=args.contact, status=_answer_status(settings))
    write = _writer(out)
    target = local_base_url(settings)
    write(f"simulate → {target}/webhook · account {account} · conversation {conversation} · contact {args.contact!r}")
    if settings.chatwoot_configured and not args.conversation:
        write(f"  note: Chatwoot is configured: the reply goes to conversation {conversation}, which it may not"
              " know; pass --conversation N of a test conversation")
    started = time.time()
    try:
        response = post_webhook(settings, payload)
    except httpx.HTTPError as exc:
        write(f"  ✗ not delivered: {type(exc).__name__} — is the web program running? (`chatwootai serve`,"
              f" or `chatwootai doctor`)")
        return 1
    answer = _json(response)
    if response.status_code != 200 or answer.get("status") != "queued":
        write(f"  ✗ not accepted: HTTP {response.status_code} {answer or response.text[:100]}")
        if response.status_code == 401:
            write("    fix: this shell's WEBHOOK_AUTH_TOKEN / CHATWOOT_WEBHOOK_SECRET differ from the running web's")
        return 1
    tracker = TurnTracker(settings, account, message_id, conversation)
    show = _step_printer(write, started)
    show(Step("accepted", time.time(), "200 queued"))
    deadline = time.monotonic() + args.timeout
    try:
        while not tracker.done and time.monotonic() < deadline:
            for step in tracker.poll():
                show(step)
            if not tracker.done:
                time.sleep(POLL_S)
    except KeyboardInterrupt:
        return 130
    finally:
        tracker.close()
    if not tracker.decided:
        if tracker.quiet:
            return 1
        write(f"  ✗ nothing decided within {args.timeout:g} s — is the worker running? (`chatwootai worker`,"
              " `chatwootai doctor`)")
        return 1
    if not tracker.done:
        write(f"  … still sending after {args.timeout:g} s (see `chatwootai logs --conversation {conversation}`)")
    return 0


def _json(response: httpx.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _writer(out: TextIO) -> Callable[[str], None]:
    def write(line: str) -> None:
        out.write(line + "\n")
        out.flush()

    return write


def _step_printer(write: Callable[[str], None], started: float) -> Callable[[Step], None]:
    def show(step: Step) -> None:
        elapsed = max(0.0, step.at - started) * 1000
        write(f"  +{elapsed:7.0f} ms  {step.name:<9} {step.detail}")
        if step.text and step.name in ("posted", "not sent", "failed"):
            for line in step.text.splitlines() or [""]:
                write(f"                       │ {line}")

    return show
