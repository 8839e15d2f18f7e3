"""The LLM seam: crewai imported once and offline-safe, models built from Settings, calls counted.

Why the counting lives at the HTTP transport: crewai 1.15 routes `openai/…` (with a base URL) and
`ollama/…` to its native OpenAI-SDK providers, which accept a transport `interceptor`. Every
request to the model passes through it — the orchestrator's classification, each tool round,
crewai's own "forced final answer" retry — so the count cannot miss a call, and refusing to send
the request is how the per-turn budget is enforced: the crew fails, the hub hands off.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from loguru import logger

from app.settings import Settings

_import_lock = threading.Lock()
_crewai: ModuleType | None = None

DEFAULT_BASE_URLS = {"openai": None, "ollama": "http://localhost:11434/v1", "ollama_chat": "http://localhost:11434/v1"}


class BudgetExceeded(RuntimeError):
    """The turn asked for more LLM calls than LLM_MAX_CALLS_PER_TURN allows (or was abandoned)."""


class WriteRefused(RuntimeError):
    """A tool that writes (a booking) asked too late: the customer could not be told of it."""


class TurnBudget:
    """Calls and prompt tokens spent by one turn; shared by the orchestrator and the crew.

    Thread-safe because the crew runs in a worker thread while the event loop may `cancel()`
    it after LLM_TIMEOUT_S: the next request the abandoned crew tries is refused.

    It also guards the tools that write (`writing`): a booking the customer is never told about
    must not be made. A write is refused once the turn is cancelled, past its `deadline`
    (time.monotonic()), or without an LLM call left to say it. What a tool wrote before a
    handoff is never made at all: writes are planned in the turn and only a reply commits them.
    """

    def __init__(self, limit: int, *, deadline: float | None = None):
        self.limit = limit
        self.deadline = deadline
        self.calls = 0
        self.prompt_tokens = 0
        self.exceeded = False
        self.cancelled = False
        self.refused_writes: list[str] = []
        self.malformed_tool_calls = 0  # tool calls the model made that named no offered tool or bad arguments
        self._lock = threading.Lock()

    @contextmanager
    def writing(self, what: str) -> Iterator[None]:
        """Hold the turn open while a tool plans a write. Raises WriteRefused.

        The lock is held for the planning: `cancel()` waits for it to finish, so a write is
        either planned before the handoff (and dropped with it) or refused."""
        with self._lock:
            why = None
            if self.cancelled:
                why = "the turn was handed off"
            elif self.deadline is not None and time.monotonic() >= self.deadline:
                why = "the turn's deadline (LLM_TIMEOUT_S) has passed"
            elif self.calls >= self.limit:
                why = "no LLM call is left to tell the customer"
            if why:
                self.refused_writes.append(what)
                raise WriteRefused(f"{what} refused: {why}")
            yield

    def spend(self, body: bytes | None = None) -> None:
        with self._lock:
            # Each request carries the turn's whole exchange, so the latest count is the total.
            self.malformed_tool_calls = max(self.malformed_tool_calls, count_malformed_tool_calls(body))
            if self.cancelled:
                raise BudgetExceeded("turn abandoned (timeout)")
            if self.calls >= self.limit:
                self.exceeded = True
                raise BudgetExceeded(f"LLM call budget of {self.limit} per turn spent")
            self.calls += 1
            self.prompt_tokens += estimate_tokens(body)

    def cancel(self) -> None:
        """Abandon the turn (timeout or handoff): refuse what the crew tries next."""
        with self._lock:
            self.cancelled = True

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.calls)


    def trouble(self) -> str:
        """What went wrong besides the count, for the handoff note ("" when nothing)."""
        if self.malformed_tool_calls:
            count = self.malformed_tool_calls
            return f"; the model made {count} malformed tool call(s) (unknown tool or bad arguments)"
        return ""


def count_malformed_tool_calls(body: bytes | None) -> int:
    """Tool calls in a request's history that name a tool not offered or whose arguments are not a
    JSON object: a model talking nonsense, which crewai answers with an error and another call."""
    try:
        request = json.loads(body) if body else None
    except ValueError:
        return 0
    if not isinstance(request, dict):
        return 0
    offered = {(t.get("function") or {}).get("name") for t in request.get("tools") or [] if isinstance(t, dict)}
    bad = 0
    for message in request.get("messages") or []:
        for call in (message.get("tool_calls") or []) if isinstance(message, dict) else []:
            function = call.get("function") or {} if isinstance(call, dict) else {}
            try:
                arguments = json.loads(function.get("arguments") or "{}")
            except (TypeError, ValueError):
                arguments = None
            if not isinstance(arguments, dict) or (offered and function.get("name") not in offered):
                bad += 1
    return bad


def estimate_tokens(body: bytes | None) -> int:
    """~4 characters a token over the messages and tool schemas of a request body."""
    if not body:
        return 0
    try:
        request = json.loads(body)
    except ValueError:
        return len(body) // 4
    text = "".join(str(m.get("content") or "") for m in request.get("messages") or [])
    return (len(text) + len(json.dumps(request.get("tools") or ""))) // 4


def crewai_env(settings: Settings) -> dict[str, str]:
    """What crewai must see before its first import: no telemetry, tracing or version check
    (each would phone home and stall 10-15 s offline), and its files under DATA_DIR."""
    storage = Path(settings.data_dir).resolve() / "crewai"
    env = {
        "CREWAI_DISABLE_TELEMETRY": "true",
        "CREWAI_TRACING_ENABLED": "false",
        "CREWAI_DISABLE_VERSION_CHECK": "true",
        "OTEL_SDK_DISABLED": "true",
        "CREWAI_STORAGE_DIR": str(storage),
    }
    home = os.environ.get("HOME")
    if not home or not os.access(home, os.W_OK):
        env["HOME"] = str(storage / "home")
    return env


def import_crewai(settings: Settings) -> ModuleType:
    """Import crewai once per process (it costs ~5 s CPU), after making it offline-safe.

    This is the one place outside settings.py that touches os.environ: crewai reads its
    switches from the environment at import time and offers no other way to set them.
    """
    global _crewai
    with _import_lock:
        if _crewai is None:
            env = crewai_env(settings)
            for key, value in env.items():
                os.environ[key] = value
            Path(env["CREWAI_STORAGE_DIR"]).mkdir(parents=True, exist_ok=True)
            if "HOME" in env:
                Path(env["HOME"]).mkdir(parents=True, exist_ok=True)
            import crewai
            from crewai.events.event_listener import event_listener

            # crewai's console formatter starts verbose and prints rich panels straight to
            # stdout — an LLM error panel quotes the provider's error text, which can contain
            # the API key. Each Crew resets it to its own `verbose` (off in ours), but a bare
            # LLM call (the orchestrator's) before any crew would still print: silence it now.
            event_listener.verbose = False
            event_listener.formatter.verbose = False
            _crewai = crewai
            logger.bind(component="hub").debug("crewai {} imported", crewai.__version__)
        return _crewai


def warm_up(settings: Settings) -> threading.Thread:
    """Import crewai in the background so the first customer does not wait for it."""

    def importing() -> None:
        import_crewai(settings)
        # What crewai and the OpenAI SDK import lazily on their first call (~0.5 s of the first
        # turn otherwise): the SDK's chat resources and crewai's agent executor.
        import crewai.agents.agent_builder.base_agent_executor  # noqa: F401
        import openai.resources.chat  # noqa: F401

    thread = threading.Thread(target=importing, name="crewai-import", daemon=True)
    thread.start()
    return thread


@dataclass(frozen=True)
class ModelRoute:
    model: str  # what crewai's LLM() gets, with its provider prefix
    base_url: str | None
    api_key: str


def resolve_model(settings: Settings) -> ModelRoute:
    """`gpt-4o-mini` → `openai/gpt-4o-mini`; a model that names its provider (`ollama/…`) keeps it."""
    if not settings.llm_model:
        raise ValueError("LLM_MODEL is not set")
    name = settings.llm_model.strip()
    provider, sep, _ = name.partition("/")
    if not sep:
        name, provider = f"openai/{name}", "openai"
    base_url = settings.llm_base_url or DEFAULT_BASE_URLS.get(provider.lower())
    # OpenAI-compatible local servers ignore the key, but the OpenAI SDK refuses to start without one.
    api_key = settings.llm_api_key or "not-needed"
    return ModelRoute(model=name, base_url=base_url, api_key=api_key)


_interceptor_class: type | None = None


def _budget_interceptor_class() -> type:
    global _interceptor_class
    if _interceptor_class is None:
        import httpx
        from crewai.llms.hooks.base import BaseInterceptor

        class BudgetInterceptor(BaseInterceptor[httpx.Request, httpx.Response]):
            """Counts each request to the model against the turn's budget; refuses past it."""

            def __init__(self, budget: TurnBudget):
                self.budget = budget

            def on_outbound(self, message: httpx.Request) -> httpx.Request:
                if message.url.path.endswith("/chat/completions") or message.url.path.endswith("/responses"):
                    self.budget.spend(message.content)
                return message

            def on_inbound(self, message: httpx.Response) -> httpx.Response:
                return message

            async def aon_outbound(self, message: httpx.Request) -> httpx.Request:
                return self.on_outbound(message)

            async def aon_inbound(self, message: httpx.Response) -> httpx.Response:
                return message

        _interceptor_class = BudgetInterceptor
    return _interceptor_class


def build_llm(
    settings: Settings,
    budget: TurnBudget,
    *,
    temperature: float = 0.2,
    response_format: Any = None,
    max_tokens: int | None = None,
) -> Any:
    """A crewai LLM for one turn, its every request counted against `budget`.

    No SDK retries: a retry is another paid call and another LLM_TIMEOUT_S of waiting; a failed
    call hands the turn to a human instead.
    """
    crewai = import_crewai(settings)
    route = resolve_model(settings)
    kwargs: dict[str, Any] = {
        "api_key": route.api_key,
        "timeout": settings.llm_timeout_s,
        "max_retries": 0,
        "temperature": temperature,
        "interceptor": _budget_interceptor_class()(budget),
    }
    if route.base_url:
        kwargs["base_url"] = route.base_url
    if response_format:
        kwargs["response_format"] = response_format
    if max_tokens:
        kwargs["max_tokens"] = max_tokens
    return crewai.LLM(model=route.model, **kwargs)


class Borrowed:
    """An LLM lent to one turn, with the provider-reported prompt tokens it had before."""

    def __init__(self, llm: Any, key: tuple):
        self.llm = llm
        self.key = key
        self.tokens_before = reported_prompt_tokens(llm)

    @property
    def prompt_tokens(self) -> int:
        return max(0, reported_prompt_tokens(self.llm) - self.tokens_before)


class LLMPool:
    """crewai LLMs kept across turns, one turn at a time each.

    Building a crewai LLM costs ~25 ms of CPU per turn (two httpx clients, each loading the CA
    bundle into a fresh SSL context) — more than the rest of a turn's own work. A turn borrows
    one, points its budget interceptor at the turn's budget, and gives it back when the thread
    using it is done (even after a timeout: only then is it no longer in use).
    """

    def __init__(self, settings: Settings):
        self.settings = settings
        self._free: dict[tuple, list[Any]] = {}
        self._lock = threading.Lock()
        self.built = 0

    def borrow(self, budget: TurnBudget, *, temperature: float = 0.2, response_format: Any = None,
               max_tokens: int | None = None) -> Borrowed:
        key = (temperature, response_format, max_tokens)
        with self._lock:
            free = self._free.setdefault(key, [])
            llm = free.pop() if free else None
        if llm is None:
            llm = build_llm(self.settings, budget, temperature=temperature, response_format=response_format,
                            max_tokens=max_tokens)
            self.built += 1
        llm.interceptor.budget = budget
        return Borrowed(llm, key)

    def give_back(self, borrowed: Borrowed) -> None:
        with self._lock:
            self._free.setdefault(borrowed.key, []).append(borrowed.llm)


def reported_prompt_tokens(llm: Any) -> int:
    """The provider-reported prompt tokens crewai accumulated on `llm` (0 when unknown)."""
    try:
        return int(llm.get_token_usage_summary().prompt_tokens)
    except Exception:  # noqa: BLE001 - a usage figure must never fail a turn
        return 0
