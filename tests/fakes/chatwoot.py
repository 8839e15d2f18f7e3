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

from tests.fakes.swagger import SwaggerValidator, shared_validator

NOT_FOUND = {"error": "Resource could not be found"}
_HANG = object()
_CONV = "/api/v1/accounts/{account_id}/conversations/{conversation_id}"
# What an agent bot token may call (Chatwoot's AccessTokenAuthHelper::BOT_ACCESSIBLE_ENDPOINTS).
_BOT_ALLOWED = {
    ("POST", f"{_CONV}/messages"),
    ("POST", f"{_CONV}/toggle_status"),
    ("POST", f"{_CONV}/toggle_typing_status"),
    ("POST", f"{_CONV}/toggle_priority"),
    ("POST", f"{_CONV}/custom_attributes"),
    ("POST", f"{_CONV}/assignments"),
    ("GET", _CONV),
    ("PATCH", _CONV),
    ("POST", "/api/v1/accounts/{account_id}/conversations"),
}
_BOT_LABELS = {("GET", f"{_CONV}/labels"), ("POST", f"{_CONV}/labels")}


@dataclass
class Fault:
    """One injected answer. `hang`: never answer (the client times out); `passthrough`: only
    wait `delay`, then answer normally."""

    status: int = 500
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    hang: bool = False
    passthrough: bool = False

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
        if fault is not None:
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
        return self._answered(rec, self._route(op.method, op.template, op.params, headers, body or {}))

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
        return None

    def _route(self, method: str, template: str, params: dict[str, str], headers: dict, body: dict) -> tuple:
        token = headers.get("api_access_token", "")
        if token in self.bot_tokens:
            allowed = _BOT_ALLOWED | (_BOT_LABELS if self.bot_can_label else set())
            if (method, template) not in allowed:
                return 401, {"error": "Access to this endpoint is not authorized for bots"}, {}
        elif token not in self.user_tokens:
            return 401, {"error": "Invalid Access Token"}, {}
        if "account_id" in params and int(params["account_id"]) not in self.account_ids:
            return 404, NOT_FOUND, {}
        suffix = template.removeprefix("/api/v1/accounts/{account_id}")
        with self._cond:
            if suffix.startswith("/conversations/{conversation_id}"):
                handler = _CONVERSATION_ROUTES.get(
                    (method, suffix.removeprefix("/conversations/{conversation_id}"))
                )
                cid = int(params["conversation_id"])
                if cid not in self.conversations and self.auto_create_conversations:
                    self.add_conversation(cid)
                if handler is None or cid not in self.conversations:
                    return 404, NOT_FOUND, {}
                return handler(self, self.conversations[cid], body, token)
            handler = _ROUTES.get((method, suffix))
            # Calls in the swagger that the appliance never makes are not faked.
            return handler(self, params, body) if handler else (404, NOT_FOUND, {})


# -- handlers: called with the fake's lock held; return (status, body, headers) -----------
def _create_message(fake: ChatwootFake, conv: dict, body: dict, token: str) -> tuple:
    is_bot = token in fake.bot_tokens
    message = {
        "id": next(fake._ids),
        "content": body["content"],
        "inbox_id": 1,
        "conversation_id": conv["id"],
    }
    message |= {
        "message_type": 1 if body.get("message_type", "outgoing") == "outgoing" else 0,
        "content_type": body.get("content_type", "text"),
        "content_attributes": body.get("content_attributes", {}),
        "created_at": int(time.time()),
        "private": bool(body.get("private", False)),
        "status": "sent",
        "source_id": None,
        "sender_type": "AgentBot" if is_bot else "User",
        "sender_id": 1,
        "sender": {
            "id": 1,
            "name": "ChatwootAI" if is_bot else "Admin",
            "type": "agent_bot" if is_bot else "user",
        },
    }
    conv["messages"].append(message)
    return 200, message, {}


def _toggle_typing(fake: ChatwootFake, conv: dict, body: dict, token: str) -> tuple:
    conv["typing"] = body["typing_status"]
    return 200, None, {}  # Chatwoot answers `head :ok`


def _toggle_status(fake: ChatwootFake, conv: dict, body: dict, token: str) -> tuple:
    conv["status"] = body["status"]
    payload = {"success": True, "current_status": conv["status"], "conversation_id": conv["id"]}
    return 200, {"meta": {}, "payload": payload}, {}


def _labels(fake: ChatwootFake, conv: dict, body: dict, token: str) -> tuple:
    if "labels" in body:  # POST replaces the list, as Chatwoot does
        conv["labels"] = list(dict.fromkeys(body["labels"]))
    return 200, {"payload": list(conv["labels"])}, {}


def _assign(fake: ChatwootFake, conv: dict, body: dict, token: str) -> tuple:
    if body.get("assignee_id") is not None:
        conv["assignee_id"] = int(body["assignee_id"])
        return 200, {"id": conv["assignee_id"], "name": "Agent", "role": "agent"}, {}
    conv["team_id"] = int(body["team_id"]) if body.get("team_id") is not None else None
    return 200, {"id": conv["team_id"], "name": f"Team {conv['team_id']}"}, {}


def _show_conversation(fake: ChatwootFake, conv: dict, body: dict, token: str) -> tuple:
    return 200, {k: v for k, v in conv.items() if k not in ("messages", "typing")} | {"inbox_id": 1}, {}


def _agent_bot(fake: ChatwootFake, params: dict, body: dict) -> tuple:
    bot = fake.agent_bots.get(int(params["id"]))
    if bot is None:
        return 404, NOT_FOUND, {}
    bot.update({k: v for k, v in body.items() if k in ("name", "description", "outgoing_url", "bot_config")})
    return 200, dict(bot), {}


def _create_agent_bot(fake: ChatwootFake, params: dict, body: dict) -> tuple:
    bot = fake.add_agent_bot(
        next(fake._ids), outgoing_url=body.get("outgoing_url", ""), name=body.get("name", "")
    )
    return 200, dict(bot), {}


def _set_agent_bot(fake: ChatwootFake, params: dict, body: dict) -> tuple:
    fake.inbox_bots[int(params["id"])] = int(body["agent_bot"])
    return 204, None, {}


# Real Chatwoot wraps webhooks in `payload` (the swagger does not say so).
def _list_webhooks(fake: ChatwootFake, params: dict, body: dict) -> tuple:
    return 200, {"payload": {"webhooks": [dict(h) for h in fake.webhooks.values()]}}, {}


def _create_webhook(fake: ChatwootFake, params: dict, body: dict) -> tuple:
    hook = fake.add_webhook(body.get("url", ""), body.get("subscriptions", []), name=body.get("name", ""))
    return 200, {"payload": {"webhook": dict(hook)}}, {}


def _update_webhook(fake: ChatwootFake, params: dict, body: dict) -> tuple:
    hook = fake.webhooks.get(int(params["webhook_id"]))
    if hook is None:
        return 404, NOT_FOUND, {}
    hook.update({k: v for k, v in body.items() if k in ("url", "subscriptions", "name")})
    return 200, {"payload": {"webhook": dict(hook)}}, {}


def _delete_webhook(fake: ChatwootFake, params: dict, body: dict) -> tuple:
    return (200, None, {}) if fake.webhooks.pop(int(params["webhook_id"]), None) else (404, NOT_FOUND, {})


def _profile(fake: ChatwootFake, params: dict, body: dict) -> tuple:
    accounts = [{"id": a, "name": f"Account {a}", "role": "administrator"} for a in sorted(fake.account_ids)]
    profile = {"id": 1, "name": "Admin", "available_name": "Admin", "email": "admin@example.com"}
    return 200, profile | {"role": "administrator", "confirmed": True, "accounts": accounts}, {}


# Keyed by (method, template suffix after /conversations/{conversation_id}); the conversation
# is looked up (or auto-created) before the handler runs.
_CONVERSATION_ROUTES: dict[tuple[str, str], Callable[..., tuple]] = {
    ("POST", "/messages"): _create_message,
    ("POST", "/toggle_typing_status"): _toggle_typing,
    ("POST", "/toggle_status"): _toggle_status,
    ("GET", "/labels"): _labels,
    ("POST", "/labels"): _labels,
    ("POST", "/assignments"): _assign,
    ("GET", ""): _show_conversation,
}
_ROUTES: dict[tuple[str, str], Callable[..., tuple]] = {
    ("GET", "/agent_bots/{id}"): _agent_bot,
    ("PATCH", "/agent_bots/{id}"): _agent_bot,
    ("POST", "/agent_bots"): _create_agent_bot,
    ("POST", "/inboxes/{id}/set_agent_bot"): _set_agent_bot,
    ("GET", "/webhooks"): _list_webhooks,
    ("POST", "/webhooks"): _create_webhook,
    ("PATCH", "/webhooks/{webhook_id}"): _update_webhook,
    ("DELETE", "/webhooks/{webhook_id}"): _delete_webhook,
    ("GET", "/api/v1/profile"): _profile,
}


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
            self.end_headers()
            self.wfile.write(data)

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
