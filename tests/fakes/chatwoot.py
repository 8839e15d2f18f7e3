"""A Chatwoot fake: a real HTTP server on loopback that answers the calls the appliance makes,
keeps their state, records every request, injects faults and checks each request against
Chatwoot's OpenAPI document (`tests/fakes/swagger.py`).

In-process:
    with ChatwootFake() as fake:          # port 0: a free port
        client = ChatwootClient(fake.url, "bot-token")
        ...
        assert fake.messages(7)[0]["content"] == "Olá"
    fake.assert_no_violations()

In pytest, a fake whose teardown fails the test when any request departed from the swagger:
    @pytest.fixture
    def fake():
        with checked_fake() as fake:      # kwargs go to ChatwootFake
            yield fake
or the ready-made `chatwoot_fake` fixture via `pytest_plugins = ["tests.fakes.chatwoot"]` in the
root conftest.py.

As a program (tests that run it as a separate process):
    python -m tests.fakes.chatwoot --port 0 --record requests.jsonl
prints `LISTENING http://127.0.0.1:PORT` once ready and writes each request as a JSON line.

Tokens: `user_tokens` act as an administrator; `bot_tokens` as an agent bot and, like Chatwoot,
may only call the conversation endpoints bots are allowed (401 otherwise). Requests go through:
record -> swagger check -> injected faults -> 404/422 on a violation -> token -> handler.
This module is the server (recording, faults, the swagger check, the CLI); the token check and
the per-endpoint handlers are in `tests/fakes/chatwoot_routes.py`.
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from tests.fakes.chatwoot_routes import NOT_FOUND, route
from tests.fakes.swagger import SwaggerValidator, shared_validator

_HANG = object()


@dataclass
class Fault:
    """One injected answer. `hang`: never answer (the client times out); `passthrough`: only
    wait `delay`, then answer normally. `saved`: the request takes effect first (Chatwoot saved
    the message), then the fault answers — a proxy's 502/504, or the real answer too late;
    `then` runs right after it took effect, or before the fault answers when not `saved` (e.g. a
    customer writes in the meantime, or Chatwoot saves it a moment after the proxy gave up)."""

    status: int = 500
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    hang: bool = False
    passthrough: bool = False
    saved: bool = False
    then: Callable[[], Any] | None = None

    @classmethod
    def error(
        cls, status: int, error: str = "injected failure", retry_after: str | float | None = None
    ) -> Fault:
        headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
        return cls(status, {"error": error}, headers)

    @classmethod
    def hang_up(cls) -> Fault:
        return cls(hang=True)

    @classmethod
    def slow(cls, seconds: float) -> Fault:
        return cls(delay=seconds, passthrough=True)

    @classmethod
    def saved_then(cls, status: int, then: Callable[[], Any] | None = None) -> Fault:
        """Chatwoot did the work, the proxy in front answered `status` (502, 504)."""
        return cls(status, {"error": "Bad Gateway" if status == 502 else "Gateway Timeout"}, saved=True, then=then)

    @classmethod
    def saved_then_late(cls, seconds: float) -> Fault:
        """Chatwoot did the work and answered after `seconds` (past the client's timeout)."""
        return cls(delay=seconds, passthrough=True, saved=True)


@dataclass
class Recorded:
    time: float
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any
    status: int = 0  # filled in when answered; 0 for a hang

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)


class ChatwootFake:
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        user_tokens: tuple[str, ...] = ("admin-token",),
        bot_tokens: tuple[str, ...] = ("bot-token",),
        account_ids: tuple[int, ...] = (1,),
        auto_create_conversations: bool = True,
        bot_can_label: bool = True,  # False: a server older than bots' access to labels
        validator: SwaggerValidator | None = None,
        record_path: str | None = None,
        hang_seconds: float = 30.0,
    ):
        self.user_tokens, self.bot_tokens = set(user_tokens), set(bot_tokens)
        self.account_ids = set(account_ids)
        self.auto_create_conversations = auto_create_conversations
        self.bot_can_label = bot_can_label
        self.validator = validator or shared_validator()
        self.hang_seconds = hang_seconds
        self.violations: list[str] = []
        self.conversations: dict[int, dict[str, Any]] = {}
        self.agent_bots: dict[int, dict[str, Any]] = {}
        self.webhooks: dict[int, dict[str, Any]] = {}
        self.inbox_bots: dict[int, int] = {}
        self._requests: list[Recorded] = []
        self._faults: list[tuple[str, re.Pattern[str], deque[Fault]]] = []
        # Called for each request no queued fault matched: a Fault to inject, or None (chaos runs).
        self.chaos: Callable[[str, str], Fault | None] | None = None
        self._ids = itertools.count(1001)
        self._cond = threading.Condition()
        self._stopping = threading.Event()
        self._record_file = open(record_path, "a", encoding="utf-8") if record_path else None  # noqa: SIM115
        self._server = ThreadingHTTPServer((host, port), _handler_for(self))
        self._server.daemon_threads = True  # a hung handler must not block stop()
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------
    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self._server.server_address[0]}:{self.port}"

    def start(self) -> ChatwootFake:
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="chatwoot-fake", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # releases hung handlers
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(5)
        self._server.server_close()
        if self._record_file:
            self._record_file.close()
            self._record_file = None

    def __enter__(self) -> ChatwootFake:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- set-up helpers --------------------------------------------------------------
    def add_conversation(
        self, conversation_id: int, *, status: str = "pending", labels: tuple[str, ...] = ()
    ) -> dict:
        with self._cond:
            conv = {
                "id": conversation_id,
                "status": status,
                "labels": list(labels),
                "typing": "off",
                "team_id": None,
                "assignee_id": None,
                "messages": [],
            }
            self.conversations[conversation_id] = conv
            return conv

    def add_message(self, conversation_id: int, content: str, *, message_type: int = 0) -> dict:
        """A message written in Chatwoot by someone else (0: the customer, 2: activity)."""
        from tests.fakes.chatwoot_routes import new_message

        with self._cond:
            conv = self.conversations.get(conversation_id) or self.add_conversation(conversation_id)
            message = new_message(self, conv, content, message_type=message_type, sender_type="Contact")
            conv["messages"].append(message)
            return message

    def add_agent_bot(self, bot_id: int, *, outgoing_url: str = "", name: str = "ChatwootAI") -> dict:
        bot = {"id": bot_id, "name": name, "description": "", "thumbnail": "", "outgoing_url": outgoing_url}
        bot |= {"bot_type": "webhook", "bot_config": {}, "account_id": min(self.account_ids, default=1)}
        bot |= {"access_token": f"bot-access-{bot_id}", "system_bot": False}
        with self._cond:
            self.agent_bots[bot_id] = bot
        return bot

    def add_webhook(self, url: str, subscriptions: list[str], *, name: str = "") -> dict:
        with self._cond:
            hook = {"id": next(self._ids), "name": name, "url": url, "subscriptions": list(subscriptions)}
            hook["account_id"] = min(self.account_ids, default=1)
            self.webhooks[hook["id"]] = hook
            return hook

    def fault(self, method: str, path_regex: str, *faults: Fault) -> None:
        """Queue answers for requests whose method matches (`*` for any) and path matches the
        regex (searched); each matching request consumes the next one, then service is normal."""
        with self._cond:
            self._faults.append((method.upper(), re.compile(path_regex), deque(faults)))

    def clear_faults(self) -> None:
        with self._cond:
            self._faults.clear()

    # -- inspection ------------------------------------------------------------------
    @property
    def requests(self) -> list[Recorded]:
        with self._cond:
            return list(self._requests)

    def requests_for(self, conversation_id: int) -> list[Recorded]:
        pattern = re.compile(rf"/conversations/{conversation_id}(/|$)")
        return [r for r in self.requests if pattern.search(r.path)]

    def messages(self, conversation_id: int) -> list[dict[str, Any]]:
        with self._cond:
            conv = self.conversations.get(conversation_id)
            return list(conv["messages"]) if conv else []

    def conversation(self, conversation_id: int) -> dict[str, Any] | None:
        with self._cond:
            return self.conversations.get(conversation_id)

    def wait_for(self, predicate: Callable[[list[Recorded]], Any], timeout: float = 5.0) -> Any:
        """Block until `predicate(requests)` is truthy; return its value or raise TimeoutError."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                value = predicate(list(self._requests))
                if value:
                    return value
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"condition not met within {timeout}s ({len(self._requests)} requests)"
                    )
                self._cond.wait(remaining)

    def assert_no_violations(self) -> None:
        assert self.violations == [], "requests departed from Chatwoot's swagger:\n" + "\n".join(
            self.violations
        )

    # -- request processing (handler threads) ---------------------------------------
    def _process(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> Any:
        parts = urlsplit(target)
        path, query = parts.path, dict(parse_qsl(parts.query))
        body, bad_json = None, False
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                bad_json = True
        rec = Recorded(time.time(), method, path, query, headers, body)
        with self._cond:
            self._requests.append(rec)
            self._cond.notify_all()
        op, problems = self.validator.match(method, path)
        if op is not None:
            bad = ["request body is not JSON"]
            problems = bad if bad_json else self.validator.check(method, path, body, has_body=bool(raw))
        if problems:
            with self._cond:
                self.violations.extend(f"{method} {path}: {p}" for p in problems)
        fault = self._next_fault(method, path)
        if fault is not None and fault.saved and op is not None and not problems:
            answer = route(self, op.method, op.template, op.params, headers, body or {})
            if fault.then is not None:
                fault.then()
            self._stopping.wait(fault.delay)
            if fault.hang:
                self._stopping.wait(self.hang_seconds)
                return self._answered(rec, _HANG)
            return self._answered(rec, answer if fault.passthrough else (fault.status, fault.body, fault.headers))
        if fault is not None:
            if fault.then is not None:
                fault.then()
            if fault.delay:
                self._stopping.wait(fault.delay)
            if fault.hang:
                self._stopping.wait(self.hang_seconds)
                return self._answered(rec, _HANG)
            if not fault.passthrough:
                return self._answered(rec, (fault.status, fault.body, fault.headers))
        if op is None:
            return self._answered(rec, (404, NOT_FOUND, {}))
        if problems:
            return self._answered(rec, (422, {"message": "; ".join(problems)}, {}))
        return self._answered(rec, route(self, op.method, op.template, op.params, headers, body or {}))

    def _answered(self, rec: Recorded, answer: Any) -> Any:
        with self._cond:
            rec.status = 0 if answer is _HANG else answer[0]
            if self._record_file:
                self._record_file.write(rec.to_json() + "\n")
                self._record_file.flush()
            self._cond.notify_all()
        return answer

    def _next_fault(self, method: str, path: str) -> Fault | None:
        with self._cond:
            for rule_method, pattern, queue in self._faults:
                if queue and rule_method in ("*", method) and pattern.search(path):
                    return queue.popleft()
        return self.chaos(method, path) if self.chaos is not None else None


def _handler_for(fake: ChatwootFake) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, like a real server behind a proxy
        # Headers and body go out in two writes: with Nagle on, the second waits for the
        # client's delayed ACK (40 ms) on every response. Real servers set TCP_NODELAY too.
        disable_nagle_algorithm = True

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            answer = fake._process(self.command, self.path, headers, raw)
            if answer is _HANG:
                self.close_connection = True
                return
            status, body, extra = answer
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            if body is not None:
                self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in extra.items():
                self.send_header(name, value)
            try:
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client gave up first (a late answer): as a server would

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass  # the recording is the log

    return Handler


@contextmanager
def checked_fake(**kwargs: Any) -> Iterator[ChatwootFake]:
    """A started fake that, on a clean exit, fails when any request departed from the swagger."""
    fake = ChatwootFake(**kwargs).start()
    try:
        yield fake
    finally:
        fake.stop()
    fake.assert_no_violations()


@pytest.fixture
def chatwoot_fake() -> Iterator[ChatwootFake]:
    """`checked_fake()` as a fixture: load it with `pytest_plugins = ["tests.fakes.chatwoot"]` in
    the root conftest.py, or wrap `checked_fake()` in a local fixture (importing this one into a
    test module trips ruff's F811)."""
    with checked_fake() as fake:
        yield fake


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Chatwoot fake for tests")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--record", help="append each request as a JSON line to this file")
    parser.add_argument("--token", action="append", help="user (admin) token; repeatable")
    parser.add_argument("--bot-token", action="append", help="agent bot token; repeatable")
    parser.add_argument("--account", type=int, action="append", help="account id; repeatable")
    parser.add_argument("--agent-bot", type=int, action="append", default=[], help="seed an agent bot id")
    args = parser.parse_args(argv)
    fake = ChatwootFake(
        args.host,
        args.port,
        user_tokens=tuple(args.token or ("admin-token",)),
        bot_tokens=tuple(args.bot_token or ("bot-token",)),
        account_ids=tuple(args.account or (1,)),
        record_path=args.record,
    )
    for bot_id in args.agent_bot:
        fake.add_agent_bot(bot_id)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    fake.start()
    print(f"LISTENING {fake.url}", flush=True)
    done.wait()
    fake.stop()
    if fake.violations:
        print("VIOLATIONS\n" + "\n".join(fake.violations), flush=True)
    return 1 if fake.violations else 0


if __name__ == "__main__":
    raise SystemExit(main())
