"""A small Chatwoot stand-in for `chatwootai demo`: a loopback HTTP server that accepts the
requests the worker sends (messages, typing, labels, status, assignments), keeps each
conversation's state and hands every request to the terminal as a `SimEvent`.

Like Chatwoot, it checks the `api_access_token` header, answers 404 to anything else, and
reports what Chatwoot would send back as webhooks (the bot's own message, a status change)
through `on_webhook`, so the appliance sees the same traffic it would in production.
"""

from __future__ import annotations

import itertools
import json
import queue
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from app.ops.payloads import message_created, status_changed

_CONV = re.compile(r"^/api/v1/accounts/(\d+)/conversations/(\d+)(/[a-z_]+)?$")


@dataclass
class SimEvent:
    kind: str  # message | note | typing | labels | status | assign
    conversation_id: int
    value: Any
    at: float = field(default_factory=time.time)


@dataclass
class SimConversation:
    id: int
    status: str = "pending"
    labels: list[str] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)


class ChatwootSimulator:
    def __init__(self, token: str, *, account_id: int = 1,
                 on_webhook: Callable[[dict[str, Any]], None] | None = None):
        self.token = token
        self.account_id = account_id
        self.on_webhook = on_webhook
        self.events: queue.Queue[SimEvent] = queue.Queue()
        self.conversations: dict[int, SimConversation] = {}
        self._ids = itertools.count(10_001)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> ChatwootSimulator:
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.1,), name="chatwoot-sim",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(5)
        self._server.server_close()

    def conversation(self, conversation_id: int) -> SimConversation:
        with self._lock:
            return self.conversations.setdefault(conversation_id, SimConversation(conversation_id))

    def next_message_id(self) -> int:
        return next(self._ids)

    # -- requests (handler threads) ----------------------------------------------------------
    def handle(self, method: str, path: str, headers: dict[str, str], body: Any) -> tuple[int, Any]:
        if headers.get("api_access_token") != self.token:
            return 401, {"error": "Invalid Access Token"}
        match = _CONV.match(path.split("?", 1)[0])
        if not match or int(match.group(1)) != self.account_id:
            return 404, {"error": "Resource could not be found"}
        conv = self.conversation(int(match.group(2)))
        action = (match.group(3) or "").lstrip("/")
        body = body if isinstance(body, dict) else {}
        handler = {
            ("POST", "messages"): self._message,
            ("POST", "toggle_typing_status"): self._typing,
            ("POST", "toggle_status"): self._status,
            ("POST", "labels"): self._labels,
            ("GET", "labels"): self._labels,
            ("POST", "assignments"): self._assign,
            ("GET", ""): self._show,
        }.get((method, action))
        if handler is None:
            return 404, {"error": "Resource could not be found"}
        return handler(conv, body)

    def _message(self, conv: SimConversation, body: dict) -> tuple[int, Any]:
        content = body.get("content")
        if not isinstance(content, str) or not content.strip():
            return 422, {"message": "content can't be blank"}
        private = bool(body.get("private"))
        message = {"id": self.next_message_id(), "content": content, "private": private, "message_type": 1,
                   "conversation_id": conv.id, "created_at": int(time.time()),
                   "sender": {"id": 1, "name": "ChatwootAI", "type": "agent_bot"}}
        with self._lock:
            conv.messages.append(message)
        self.events.put(SimEvent("note" if private else "message", conv.id, content))
        self._webhook_message(conv, message)
        return 200, message

    def _typing(self, conv: SimConversation, body: dict) -> tuple[int, Any]:
        self.events.put(SimEvent("typing", conv.id, body.get("typing_status") == "on"))
        return 200, None

    def _status(self, conv: SimConversation, body: dict) -> tuple[int, Any]:
        status = body.get("status")
        if status not in ("open", "resolved", "pending", "snoozed"):
            return 422, {"message": "invalid status"}
        with self._lock:
            previous, conv.status = conv.status, status
        self.events.put(SimEvent("status", conv.id, status))
        if previous != status and self.on_webhook:
            self.on_webhook(status_changed(account_id=self.account_id, conversation_id=conv.id, status=status,
                                           previous=previous, labels=conv.labels))
        return 200, {"meta": {}, "payload": {"success": True, "current_status": status, "conversation_id": conv.id}}

    def _labels(self, conv: SimConversation, body: dict) -> tuple[int, Any]:
        if "labels" in body:
            with self._lock:
                conv.labels = [str(x) for x in dict.fromkeys(body["labels"])]
            self.events.put(SimEvent("labels", conv.id, list(conv.labels)))
        return 200, {"payload": list(conv.labels)}

    def _assign(self, conv: SimConversation, body: dict) -> tuple[int, Any]:
        self.events.put(SimEvent("assign", conv.id, body))
        team = body.get("team_id")
        return 200, {"id": team, "name": f"Team {team}"}

    def _show(self, conv: SimConversation, body: dict) -> tuple[int, Any]:
        return 200, {"id": conv.id, "status": conv.status, "labels": conv.labels, "inbox_id": 1}

    def _webhook_message(self, conv: SimConversation, message: dict) -> None:
        """Chatwoot sends the bot its own messages too (they must be ignored): so do we."""
        if self.on_webhook is None:
            return
        self.on_webhook(message_created(account_id=self.account_id, conversation_id=conv.id,
                                        message_id=message["id"], content=message["content"],
                                        sender_type="agent_bot", sender_name="ChatwootAI", sender_id=1,
                                        status=conv.status, labels=conv.labels, private=message["private"]))


def _handler_for(sim: ChatwootSimulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = None
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, answer = sim.handle(self.command, self.path, headers, body)
            data = b"" if answer is None else json.dumps(answer).encode()
            self.send_response(status)
            if answer is not None:
                self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = _serve

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass  # the terminal shows what matters

    return Handler
