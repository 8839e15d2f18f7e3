"""Logging (SPEC §10): one line per event to stdout and to a file in LOG_DIR, text or JSON.

Every line names its program (`component`) and carries the ids bound with `logger.bind(...)`
(conversation, delivery, ...). Secrets never reach a sink: a patcher replaces every configured
secret value, in the message and in the bound fields, before any sink formats the record.
Message text is only logged at DEBUG by the callers.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
import traceback
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from urllib.parse import quote, quote_plus

from loguru import logger

from app.settings import Settings

REDACTED = "***"


class Redactor:
    """Replaces any configured secret (and its obvious encodings in URLs) with ***."""

    def __init__(self, secrets: Iterable[str]):
        # Longest first, so a secret that contains another is replaced whole.
        plain = {s for s in secrets if s and len(s) >= 4}
        # A token travels in URLs (`/webhook?token=…`) percent-encoded: hide those forms too.
        encoded = {form for s in plain for form in (quote(s), quote(s, safe=""), quote_plus(s), quote_plus(s, safe=""))}
        self._secrets = sorted(plain | encoded, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def patch(self, record) -> None:
        record["message"] = self(record["message"])
        extra = record["extra"]
        for key, value in list(extra.items()):
            if isinstance(value, str):
                extra[key] = self(value)
        if record["exception"] is not None:
            # Exception text is rendered by loguru later; scrub the value's args now.
            exc = record["exception"].value
            if exc is not None and exc.args:
                exc.args = tuple(self(a) if isinstance(a, str) else a for a in exc.args)
        fields = " ".join(
            f"{k}={v}" for k, v in extra.items() if not k.startswith("_") and k != "component" and v is not None
        )
        extra["_fields"] = f" {fields}" if fields else ""


def _render_json(r) -> str:
    line = {
        "time": r["time"].isoformat(),
        "level": r["level"].name,
        "component": r["extra"].get("component"),
        "message": r["message"],
    }
    line.update({k: v for k, v in r["extra"].items() if not k.startswith("_") and k != "component"})
    if r["exception"] is not None:
        line["exception"] = f"{r['exception'].type.__name__}: {r['exception'].value}"
    return json.dumps(line, default=str, ensure_ascii=False) + "\n"


def _render_text(r) -> str:
    t = r["time"]
    text = (
        # datetime.strftime, not f"{t:...}": loguru's datetime overrides __format__ and is 5x slower
        f"{datetime.strftime(t, '%Y-%m-%d %H:%M:%S')}.{t.microsecond // 1000:03d} {r['level'].name: <7} "
        f"[{r['extra']['component']}] {r['message']}{r['extra']['_fields']}\n"
    )
    if r["exception"] is not None:
        exc = r["exception"]
        text += "".join(traceback.format_exception(exc.type, exc.value, exc.traceback))
    return text


class _TeeSink:
    """Renders a record once and writes it to stdout and to the program's file in LOG_DIR.

    One sink instead of two halves the formatting work on the webhook's hot path; the file is
    reopened when the logrotate sidecar moved it away (checked at most once a second, not with a
    stat() per line as loguru's own `watch=True` does).
    """

    def __init__(self, render, stream, path: Path | None):
        self._render = render
        self._stream = stream
        self._file = _ReopeningFile(path) if path else None
        self._lock = threading.Lock()  # loguru's calls and info_line's may come from two threads

    def write(self, message) -> None:
        self.write_record(message.record)

    def write_record(self, record) -> None:
        text = self._render(record)
        with self._lock:
            self._stream.write(text)
            self._stream.flush()
            if self._file is not None:
                self._file.write(text)


class _Level:
    name = "INFO"
    no = 20


class _FastInfo:
    """INFO lines written straight to the program's sink, with the same redaction and format.

    For the one line per webhook: loguru's per-record work (frame inspection, thread and process
    lookups, handler locks) cost more than verifying, parsing and storing the webhook together —
    tests/bench/ingest.py measured 3.6k req/s with it against 5.2k with a direct write.
    """

    def __init__(self, sink: _TeeSink, redactor: Redactor, component: str, enabled: bool):
        self.sink, self.redactor, self.component, self.enabled = sink, redactor, component, enabled

    def __call__(self, message: str, **fields: object) -> None:
        if not self.enabled:
            return
        extra: dict[str, object] = {"component": self.component}
        for key, value in fields.items():
            extra[key] = self.redactor(value) if isinstance(value, str) else value
        joined = " ".join(f"{k}={v}" for k, v in fields.items() if v is not None)
        extra["_fields"] = self.redactor(f" {joined}") if joined else ""
        record = {"time": datetime.now().astimezone(), "level": _Level, "message": self.redactor(message),
                  "extra": extra, "exception": None}
        self.sink.write_record(record)


_fast_info: _FastInfo | None = None


def info_line(message: str, **fields: object) -> None:
    """One INFO line with `fields` (ids, results) on the program's sinks: the hot-path twin of
    `logger.bind(**fields).info(message)`, which it falls back to before setup_logging ran."""
    if _fast_info is None:
        logger.bind(**fields).info(message)
    else:
        _fast_info(message, **fields)


def setup_logging(settings: Settings, *, component: str, filename: str | None) -> Redactor:
    """Configure loguru for one program. `filename` is relative to LOG_DIR (None: stdout only)."""
    redactor = Redactor(settings.secret_values)
    logger.remove()
    logger.configure(extra={"component": component, "_fields": ""}, patcher=redactor.patch)
    level = settings.log_level
    path = None
    if filename:
        log_dir = Path(settings.log_dir)
        log_dir.mkdir(parents=True, exist_ok=True)
        path = log_dir / filename
    render = _render_json if settings.log_format == "json" else _render_text
    sink = _TeeSink(render, sys.stdout, path)
    logger.add(sink.write, level=level, format="{message}", backtrace=False, diagnose=False, catch=True)
    global _fast_info
    _fast_info = _FastInfo(sink, redactor, component, enabled=logger.level(level).no <= _Level.no)
    if settings.webhook_allow_unauthenticated:
        logger.warning("WEBHOOK_ALLOW_UNAUTHENTICATED=true: webhooks are accepted without credentials")
    intercept_stdlib_logging(level)
    return redactor


# Sanic's loggers. Sanic runs logging.config.dictConfig when an app is created, after this
# module set logging up, and that replaces these loggers' handlers with its own stdout/stderr
# ones; a logger's filters survive it, so the hand-over to loguru is a filter on each of them.
SANIC_LOGGERS = ("sanic.root", "sanic.error", "sanic.access", "sanic.server", "sanic.websockets")
# Libraries that narrate every request or step at INFO/DEBUG: only their warnings are worth a line.
NOISY_LOGGERS = ("httpx", "httpcore", "openai", "crewai", "LiteLLM")


class _InterceptHandler(logging.Handler):
    """Hands a standard-library record to loguru (loguru's documented InterceptHandler), so it
    gets the program's sinks, format, component and secret redaction."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        frame, depth = logging.currentframe(), 2
        while frame is not None and frame.f_code.co_filename == logging.__file__:
            frame = frame.f_back
            depth += 1
        logger.opt(depth=depth, exception=record.exc_info).log(level, record.getMessage())


class _DivertToLoguru(logging.Filter):
    """On a logger whose handlers a library manages: sends each record to loguru, then drops it
    so neither those handlers nor the root logger print it a second time."""

    def __init__(self, handler: logging.Handler):
        super().__init__()
        self.handler = handler

    def filter(self, record: logging.LogRecord) -> bool:
        self.handler.handle(record)
        return False


def intercept_stdlib_logging(level: str) -> None:
    """Route the standard `logging` module (Sanic, crewai, LiteLLM, httpx, openai) into loguru.

    Idempotent: a second call (another setup_logging in the same process) replaces the first.
    """
    levelno = logger.level(level).no
    handler = _InterceptHandler(level=levelno)
    root = logging.getLogger()
    root.handlers = [handler]
    # Our own code logs through loguru; what reaches the stdlib root is third-party chatter
    # (crewai logs "validated tool" and token usage at INFO on every call): warnings and up.
    root.setLevel(max(levelno, logging.WARNING))
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(max(levelno, logging.WARNING))
    # Warns on every call for a model it has no tokenizer for (any local Ollama model).
    logging.getLogger("crewai.llms.base_llm").setLevel(logging.ERROR)
    for name in SANIC_LOGGERS:
        sanic_logger = logging.getLogger(name)
        for old in [f for f in sanic_logger.filters if isinstance(f, _DivertToLoguru)]:
            sanic_logger.removeFilter(old)
        sanic_logger.addFilter(_DivertToLoguru(handler))


class _ReopeningFile:
    """A line-buffered append-only file that reopens itself after logrotate renamed or removed it."""

    CHECK_EVERY_S = 1.0

    def __init__(self, path: Path):
        self._path = path
        self._open()

    def _open(self) -> None:
        self._handle = self._path.open("a", encoding="utf-8", buffering=1)
        self._ino = os.fstat(self._handle.fileno()).st_ino
        self._checked = time.monotonic()

    def write(self, text: str) -> None:
        now = time.monotonic()
        if now - self._checked >= self.CHECK_EVERY_S:
            self._checked = now
            try:
                moved = os.stat(self._path).st_ino != self._ino
            except FileNotFoundError:
                moved = True
            if moved:
                self._handle.close()
                self._open()
        self._handle.write(text)
