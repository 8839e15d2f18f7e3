"""An OpenAI-compatible chat-completions server on loopback that answers from a script.

Real HTTP, so the code under test goes through its real client (the OpenAI SDK inside crewai,
or httpx): `POST /v1/chat/completions` (and `/chat/completions`), `GET /v1/models`.

A script is either a callable `(request_json) -> spec` or a queue of specs (`push`). A spec is:
- a `str`: the assistant's text;
- `{"json": {...}}`: the text is that object as JSON (structured output);
- `{"tool_calls": [{"name": ..., "arguments": {...}}, ...]}`: a tool round;
- `{"status": 500, "body": ...}`: an HTTP error;
- any of the above with `"delay": seconds` to answer slowly.
When the queue is empty, `default_script` answers: it classifies when a JSON answer is asked
for, calls the most relevant tool when tools are offered and no tool result is in the
conversation yet, and otherwise answers with text that quotes the last tool result.
That script and the helpers that read a request (`message_text`, `customer_words`,
`classify_keywords`) live in `tests/fakes/llm_script.py`; this module re-exports them.

Every call is recorded (`calls`): messages, tools, response_format, stream flag, the estimated
prompt tokens (len(message text + tool schemas) / 4, also reported as `usage.prompt_tokens`).
"Down" is just a stopped server: connection refused.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.fakes.llm_script import (
    CUSTOMER_MARK,
    INTENT_WORDS,
    PT_WORDS,
    classify_keywords,
    customer_words,
    default_script,
    message_text,
)

Spec = Any
Script = Callable[[dict[str, Any]], Spec]


@dataclass
class RecordedCall:
    path: str
    model: str
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]]
    response_format: dict[str, Any] | None
    stream: bool
    prompt_tokens: int
    response: Any = None
    at: float = field(default_factory=time.monotonic)
    headers: dict[str, str] = field(default_factory=dict)  # lower-cased names


def estimate_prompt_tokens(request: dict[str, Any]) -> int:
    text = "".join(message_text(m) + json.dumps(m.get("tool_calls") or "") for m in request.get("messages") or [])
    text += json.dumps(request.get("tools") or "")
    return max(1, len(text) // 4)


class FakeLLM:
    """`with FakeLLM() as llm:` starts it; `llm.base_url` is what LLM_BASE_URL should be."""

    def __init__(self, script: Script | None = None, *, delay: float = 0.0, model: str = "fake-model"):
        self.script: Script = script or default_script
        self.delay = delay
        self.model = model
        self.queue: deque[Spec] = deque()
        self.calls: list[RecordedCall] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # lifecycle -------------------------------------------------------------------------------
    def start(self) -> FakeLLM:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes: with Nagle on, the second waits for the
            # client's delayed ACK (40 ms) on every response. Real servers set TCP_NODELAY too.
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:  # noqa: N802
                if self.path.rstrip("/") in ("/v1/models", "/models"):
                    self._send(200, {"object": "list", "data": [{"id": fake.model, "object": "model"}]})
                else:
                    self._send(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b"{}"
                if self.path.split("?")[0].rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
                    self._send(404, {"error": {"message": "not found"}})
                    return
                try:
                    request = json.loads(raw)
                except ValueError:
                    self._send(400, {"error": {"message": "bad json"}})
                    return
                fake._answer(self, request)

            def _send(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
                    pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-llm", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeLLM:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # scripting -------------------------------------------------------------------------------
    def push(self, *specs: Spec) -> None:
        with self._lock:
            self.queue.extend(specs)

    def reset(self) -> None:
        with self._lock:
            self.queue.clear()
            self.calls.clear()

    @property
    def prompt_tokens(self) -> int:
        return sum(c.prompt_tokens for c in self.calls)

    # answering -------------------------------------------------------------------------------
    def _answer(self, handler: Any, request: dict[str, Any]) -> None:
        call = RecordedCall(
            path=handler.path,
            model=str(request.get("model", "")),
            messages=list(request.get("messages") or []),
            tools=list(request.get("tools") or []),
            response_format=request.get("response_format"),
            stream=bool(request.get("stream")),
            prompt_tokens=estimate_prompt_tokens(request),
            headers={k.lower(): v for k, v in handler.headers.items()},
        )
        with self._lock:
            self.calls.append(call)
            spec = self.queue.popleft() if self.queue else None
        if spec is None:
            spec = self.script(request)
        call.response = spec
        delay = self.delay + (spec.get("delay", 0.0) if isinstance(spec, dict) else 0.0)
        if delay:
            time.sleep(delay)
        if isinstance(spec, dict) and "status" in spec:
            handler._send(spec["status"], spec.get("body") or {"error": {"message": "scripted error"}})
            return
        message, finish = _message_from_spec(spec)
        usage = {"prompt_tokens": call.prompt_tokens, "completion_tokens": 20,
                 "total_tokens": call.prompt_tokens + 20}
        if call.stream:
            _stream(handler, call.model, message, finish, usage)
            return
        handler._send(200, {
            "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": call.model or self.model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
            "usage": usage,
        })


def _message_from_spec(spec: Spec) -> tuple[dict[str, Any], str]:
    if isinstance(spec, str):
        return {"role": "assistant", "content": spec}, "stop"
    if "json" in spec:
        return {"role": "assistant", "content": json.dumps(spec["json"], ensure_ascii=False)}, "stop"
    if "tool_calls" in spec:
        calls = [
            {
                "id": f"call_{uuid.uuid4().hex[:10]}",
                "type": "function",
                "function": {"name": c["name"], "arguments": json.dumps(c.get("arguments", {}), ensure_ascii=False)},
            }
            for c in spec["tool_calls"]
        ]
        return {"role": "assistant", "content": spec.get("content"), "tool_calls": calls}, "tool_calls"
    return {"role": "assistant", "content": str(spec.get("content", ""))}, "stop"


def _stream(handler: Any, model: str, message: dict[str, Any], finish: str, usage: dict[str, int]) -> None:
    """Server-sent events the way OpenAI streams: role, content or tool-call deltas, finish, usage."""
    base = {"id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "object": "chat.completion.chunk",
            "created": int(time.time()), "model": model}
    chunks: list[dict[str, Any]] = [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]
    if message.get("content"):
        chunks.append({"index": 0, "delta": {"content": message["content"]}, "finish_reason": None})
    for i, tc in enumerate(message.get("tool_calls") or []):
        chunks.append({"index": 0, "delta": {"tool_calls": [{"index": i, **tc}]}, "finish_reason": None})
    chunks.append({"index": 0, "delta": {}, "finish_reason": finish})
    try:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Connection", "close")
        handler.end_headers()
        for choice in chunks:
            handler.wfile.write(f"data: {json.dumps({**base, 'choices': [choice]})}\n\n".encode())
        handler.wfile.write(f"data: {json.dumps({**base, 'choices': [], 'usage': usage})}\n\n".encode())
        handler.wfile.write(b"data: [DONE]\n\n")
        handler.wfile.flush()
        handler.close_connection = True
    except (BrokenPipeError, ConnectionResetError):
        pass


__all__ = [
    "CUSTOMER_MARK",
    "INTENT_WORDS",
    "PT_WORDS",
    "FakeLLM",
    "RecordedCall",
    "Script",
    "Spec",
    "classify_keywords",
    "customer_words",
    "default_script",
    "estimate_prompt_tokens",
    "message_text",
]
