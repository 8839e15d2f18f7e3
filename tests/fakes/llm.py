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

Every call is recorded (`calls`): messages, tools, response_format, stream flag, the estimated
prompt tokens (len(message text + tool schemas) / 4, also reported as `usage.prompt_tokens`).
"Down" is just a stopped server: connection refused.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Spec = Any
Script = Callable[[dict[str, Any]], Spec]

CUSTOMER_MARK = re.compile(r"<customer>(.*?)</customer>", re.S)

# Keyword lists for the default script; the same words a human would route by.
INTENT_WORDS: dict[str, tuple[str, ...]] = {
    "human": ("atendente", "humano", "pessoa", "human", "agent", "person", "gerente", "manager"),
    "scheduling": (
        "agendar", "agenda", "marcar", "reserv", "horário", "horario", "cancelar", "remarcar", "horários disponíveis",
        "book", "appointment", "schedule", "slot", "cancel", "amanhã", "tomorrow", "disponív",
    ),
    "support": (
        "entrega", "frete", "devolu", "troca", "trocar", "pagamento", "pix", "endereço", "onde fica",
        "funcionamento", "deliver", "return", "refund", "payment", "address", "store", "opening hours",
        "problema", "problem", "defeito",
    ),
    "sales": (
        "preço", "preco", "quanto custa", "comprar", "produto", "estoque", "vende", "price", "buy",
        "how much", "cost", "stock", "product", "sell", "hidratante", "protetor", "sérum", "serum",
        "sabonete", "kit", "sunscreen", "moisturizer", "cleanser", "creme", "cream",
    ),
}
PT_WORDS = ("você", "voce", "olá", "ola", "oi", "quero", "obrigad", "qual", "quanto", "não", "vocês",
            "tem ", "para", "amanhã", "bom dia", "boa tarde", "preciso", "gostaria", "queria")


def classify_keywords(text: str) -> tuple[str, str]:
    """(intent, language) by keywords: the default script's stand-in for a model."""
    lowered = f" {text.lower()} "
    language = "pt-BR" if any(w in lowered for w in PT_WORDS) else "en"
    if any(w in lowered for w in ("funcionamento", "opening hours", "abre", "fecha")):
        return "support", language  # "horário de funcionamento" is about the shop, not a booking
    for intent in ("human", "scheduling", "support", "sales"):
        if any(w in lowered for w in INTENT_WORDS[intent]):
            return intent, language
    return "other", language


def message_text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):  # multimodal parts
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return str(content or "")


def customer_words(request: dict[str, Any]) -> str:
    """The customer's words: inside <customer> marks when the prompt has them, else the last user text."""
    messages = request.get("messages") or []
    for message in reversed(messages):
        found = CUSTOMER_MARK.findall(message_text(message))
        if found:
            return found[-1].strip()
    for message in reversed(messages):
        if message.get("role") == "user":
            return message_text(message).strip()
    return ""


def _tool_names(request: dict[str, Any]) -> list[str]:
    return [t.get("function", {}).get("name", "") for t in request.get("tools") or []]


def _pick_tool(names: list[str], words: str) -> str:
    intent, _ = classify_keywords(words)
    lowered = words.lower()
    wants_booking = _wants_booking(lowered)
    if "cancel" in lowered and "cancel_booking" in names:
        return "cancel_booking"
    preference = {
        "sales": ["search_products", "product_detail"],
        "scheduling": (["book_slot"] if wants_booking else []) + ["free_slots", "list_services"],
        "support": ["search_faq", "business_info"],
        "other": ["search_faq", "business_info"],
        "human": ["search_faq"],
    }[intent]
    for name in preference + ["delegate_work_to_coworker", "search_faq", "search_products", "free_slots"]:
        if name in names:
            return name
    return names[0]


def _tool_arguments(request: dict[str, Any], name: str, words: str) -> dict[str, Any]:
    """Fill the tool's required string fields with the customer's words: crude, like a small model."""
    for tool in request.get("tools") or []:
        function = tool.get("function", {})
        if function.get("name") != name:
            continue
        props = (function.get("parameters") or {}).get("properties") or {}
        args: dict[str, Any] = {}
        for key, schema in props.items():
            kind = schema.get("type") or next(
                (o.get("type") for o in schema.get("anyOf", []) if o.get("type") != "null"), "string"
            )
            nullable = any(o.get("type") == "null" for o in schema.get("anyOf", []))
            if nullable and key not in ("query", "task", "question", "context"):
                args[key] = None
            elif key in ("task", "question"):
                # A delegating manager passes the customer's question on, marked as such.
                args[key] = f"Answer the customer: <customer>{words}</customer>"
            elif key in ("query", "context", "sku"):
                args[key] = words
            elif key == "booking_id":
                found = re.search(r"#(\d+)", json.dumps(request.get("messages") or [], ensure_ascii=False))
                args[key] = int(found.group(1)) if found else 1
            elif key == "coworker":
                args[key] = _pick_coworker(function.get("description", ""), words)
            elif kind == "string" and key in (function.get("parameters") or {}).get("required", []):
                args[key] = words
        return args
    return {}


def _pick_coworker(description: str, words: str) -> str:
    """The hierarchical manager's delegate tool lists coworkers by role in its description."""
    intent, _ = classify_keywords(words)
    roles = re.findall(r"([A-Z][\w ]*?(?:Specialist|Agent|Assistant))", description)
    wanted = {"sales": "sales", "scheduling": "schedul", "support": "support"}.get(intent, "support")
    for role in roles:
        if wanted in role.lower():
            return role
    return roles[0] if roles else "Support Specialist"


def default_script(request: dict[str, Any]) -> Spec:
    messages = request.get("messages") or []
    words = customer_words(request)
    response_format = request.get("response_format")
    if response_format and response_format.get("type") in ("json_schema", "json_object"):
        intent, language = classify_keywords(words)
        return {"json": {"intent": intent, "language": language}}
    tool_results = [m for m in messages if m.get("role") == "tool"]
    last_is_tool = bool(messages) and messages[-1].get("role") == "tool"
    names = _tool_names(request)
    slot = _offered_slot(request)
    booked = any(c.get("function", {}).get("name") == "book_slot"
                 for m in messages for c in m.get("tool_calls") or [])
    if "book_slot" in names and _wants_booking(words) and not booked:
        if slot:  # a model that sees a free slot books it when the customer asked to
            return {"tool_calls": [{"name": "book_slot", "arguments": {
                "service_id": slot[0], "start": slot[1], "customer_name": None}}]}
        if not tool_results:  # it must look the slots up first
            return {"tool_calls": [{"name": "free_slots", "arguments": {"service_id": None, "after": None}}]}
    if names and not last_is_tool and not _answerable_from_prompt(request, words, tool_results):
        name = _pick_tool(names, words)
        return {"tool_calls": [{"name": name, "arguments": _tool_arguments(request, name, words)}]}
    source = message_text(tool_results[-1]) if tool_results else _prompt_data(request)
    return f"Resposta: {source.strip()[:600]}" if source.strip() else "Resposta: como posso ajudar?"


def _wants_booking(words: str) -> bool:
    lowered = f" {words.lower()} "
    return any(w in lowered for w in (" às ", " as 9", " as 1", "confirm", "book the", "pode ser", "reserve"))


def _offered_slot(request: dict[str, Any]) -> tuple[str, str] | None:
    """The first slot a free_slots listing showed (in the prompt or in a tool result)."""
    for message in request.get("messages") or []:
        found = re.search(r"service_id=([\w-]+), start=([\d\-T:+.]+)", message_text(message))
        if found:
            return found.group(1), found.group(2)
    return None


def _prompt_data(request: dict[str, Any]) -> str:
    """Text the caller prefetched into the prompt between <data> marks, if any."""
    for message in request.get("messages") or []:
        found = re.findall(r"<data>(.*?)</data>", message_text(message), re.S)
        if found and found[-1].strip():
            return found[-1]
    return ""


def _answerable_from_prompt(request: dict[str, Any], words: str, tool_results: list[Any]) -> bool:
    """A model given the facts in its prompt answers without a tool, unless it must act (book)."""
    if tool_results:
        return True
    if not _prompt_data(request):
        return False
    return not _needs_action(words)


def _needs_action(words: str) -> bool:
    return _wants_booking(words) or "cancel" in words.lower()


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
