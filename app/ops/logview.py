"""`chatwootai logs`: webhook.log (web) and hub.log (worker, hub) merged in time order (SPEC §10).

Reads both line formats `app/logs.py` writes — text (`2026-12-01 14:53:04.123 INFO    [web] msg
k=v`, tracebacks on the lines after) and JSON (one object per line) — and prints text. With
`--since` the rotated generations are read too (`webhook.log.1`, `hub.log.2.gz`, dated names).
With `-f` it keeps following both files like `tail -F`: appended lines, a rename by logrotate
(the rest of the old file is read, then the new one from its start) and a copytruncate.
Colours (component and level) only when stdout is a terminal.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TextIO

from app.settings import Settings

FILES = ("webhook.log", "hub.log")
POLL_S = 0.2
_TEXT = re.compile(r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(?:\.\d+)?) +([A-Z]+) +\[([^\]]*)\] ?(.*)$")
_CONVERSATION = re.compile(r"\bconversation[= ](?:\d+/)?(\d+)\b")
_SPAN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

COMPONENT_COLOURS = {"web": "\x1b[36m", "worker": "\x1b[35m", "hub": "\x1b[34m"}
LEVEL_COLOURS = {"TRACE": "\x1b[2m", "DEBUG": "\x1b[2m", "WARNING": "\x1b[33m", "ERROR": "\x1b[1;31m",
                 "CRITICAL": "\x1b[1;41m"}
RESET = "\x1b[0m"


@dataclass
class Record:
    """One log event: its first line parsed, and any continuation lines (a traceback)."""

    at: float
    level: str
    component: str
    text: str  # the first line as it will be printed (without colour)
    conversation: int | None
    extra: list[str] = field(default_factory=list)


def parse_line(line: str) -> Record | None:
    """A record from a line that starts one; None for a continuation line."""
    line = line.rstrip("\n")
    if line.startswith("{"):
        try:
            obj = json.loads(line)
        except ValueError:
            obj = None
        if isinstance(obj, dict) and "time" in obj and "message" in obj:
            return _from_json(obj)
    match = _TEXT.match(line)
    if not match:
        return None
    stamp, level, component, rest = match.groups()
    try:
        at = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f" if "." in stamp else "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None
    conv = _CONVERSATION.search(rest)
    return Record(at.timestamp(), level, component, line, int(conv.group(1)) if conv else None)


def _from_json(obj: dict) -> Record:
    try:
        when = datetime.fromisoformat(str(obj["time"]))
    except ValueError:
        when = datetime.now()
    level = str(obj.get("level", "INFO"))
    component = str(obj.get("component") or "?")
    fields = {k: v for k, v in obj.items() if k not in ("time", "level", "component", "message", "exception")}
    tail = "".join(f" {k}={v}" for k, v in fields.items() if v is not None)
    local = when.astimezone() if when.tzinfo else when
    text = (f"{local.strftime('%Y-%m-%d %H:%M:%S')}.{local.microsecond // 1000:03d} {level: <7} "
            f"[{component}] {obj['message']}{tail}")
    record = Record(when.timestamp(), level, component, text, None)
    conv = obj.get("conversation")
    if isinstance(conv, int) or (isinstance(conv, str) and conv.isdigit()):
        record.conversation = int(conv)
    else:
        found = _CONVERSATION.search(str(obj["message"]))
        record.conversation = int(found.group(1)) if found else None
    if obj.get("exception"):
        record.extra.append(str(obj["exception"]))
    return record


def parse_since(value: str, *, now: float | None = None) -> float:
    """`30s`, `10m`, `2h`, `1d` ago, or an ISO time (`2026-12-01T14:00`) → epoch seconds."""
    now = time.time() if now is None else now
    match = _SPAN.match(value)
    if match:
        return now - float(match.group(1)) * _UNITS[match.group(2)]
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        raise ValueError(f"--since: expected an age like 30s, 10m, 2h, 1d or an ISO time, got {value!r}") from None


def records(lines: Iterable[str]) -> Iterator[Record]:
    """Group lines into records; lines before the first record start are kept as their own."""
    current: Record | None = None
    for line in lines:
        parsed = parse_line(line)
        if parsed is not None:
            if current is not None:
                yield current
            current = parsed
        elif current is not None:
            current.extra.append(line.rstrip("\n"))
        elif line.strip():
            current = Record(0.0, "INFO", "?", line.rstrip("\n"), None)
    if current is not None:
        yield current


def rotated_files(directory: Path, name: str) -> list[Path]:
    """The rotated generations of `name`, oldest first (`name.3.gz`, `name.2`, `name-20261201`)."""
    found = [p for p in directory.glob(f"{name}?*") if p.is_file() and p.name != name]
    return sorted(found, key=lambda p: p.stat().st_mtime)


def _read_lines(path: Path) -> list[str]:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rt", encoding="utf-8", errors="replace") as f:
                return f.readlines()
        with path.open(encoding="utf-8", errors="replace") as f:
            return f.readlines()
    except OSError:
        return []


@dataclass
class Filter:
    since: float | None = None
    components: frozenset[str] = frozenset()
    conversation: int | None = None

    def __call__(self, r: Record) -> bool:
        if self.since is not None and r.at < self.since:
            return False
        if self.components and r.component not in self.components:
            return False
        return self.conversation is None or r.conversation == self.conversation


def merged(directory: Path, keep: Filter, *, with_rotated: bool) -> list[Record]:
    """Every record of both logs that `keep` accepts, in time order (stable within a file)."""
    all_records: list[Record] = []
    for name in FILES:
        paths = [*(rotated_files(directory, name) if with_rotated else []), directory / name]
        for path in paths:
            all_records.extend(r for r in records(_read_lines(path)) if keep(r))
    all_records.sort(key=lambda r: r.at)
    return all_records


class Painter:
    def __init__(self, colour: bool):
        self.colour = colour

    def __call__(self, r: Record) -> str:
        lines = [r.text, *r.extra]
        if not self.colour or not r.component:  # a followed traceback line: as it is
            return "\n".join(lines) + "\n"
        tag = f"[{r.component}]"
        first = r.text.replace(tag, f"{COMPONENT_COLOURS.get(r.component, '')}{tag}{RESET}", 1)
        level_colour = LEVEL_COLOURS.get(r.level)
        if level_colour:
            first = first.replace(f" {r.level}", f" {level_colour}{r.level}{RESET}", 1)
            if r.level in ("ERROR", "CRITICAL"):
                lines[1:] = [f"{level_colour}{x}{RESET}" for x in lines[1:]]
        return "\n".join([first, *lines[1:]]) + "\n"


class _Followed:
    """One log file followed across appends, truncation and renames."""

    def __init__(self, path: Path):
        self.path = path
        self.handle: TextIO | None = None
        self.inode: int | None = None
        self.partial = ""
        self.last: Record | None = None  # the record continuation lines belong to

    def open_at_end(self) -> None:
        self._open(seek_end=True)

    def _open(self, *, seek_end: bool) -> None:
        try:
            self.handle = self.path.open(encoding="utf-8", errors="replace")
        except OSError:
            self.handle, self.inode = None, None
            return
        self.inode = os.fstat(self.handle.fileno()).st_ino
        if seek_end:
            self.handle.seek(0, os.SEEK_END)

    def poll(self) -> list[str]:
        """Complete lines appended since the last poll, the rest of a rotated-away file first."""
        lines: list[str] = []
        if self.handle is None:
            self._open(seek_end=False)
            if self.handle is None:
                return lines
        lines += self._read()
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return lines  # moved away, not yet recreated: keep the old handle for now
        if stat.st_ino != self.inode:
            lines += self._read()
            self.handle.close()
            self._open(seek_end=False)
            lines += self._read()
        elif stat.st_size < self.handle.tell():  # copytruncate
            self.handle.seek(0)
            lines += self._read()
        return lines

    def _read(self) -> list[str]:
        assert self.handle is not None
        data = self.partial + self.handle.read()
        complete, _, self.partial = data.rpartition("\n")
        return [line + "\n" for line in complete.split("\n")] if complete or data.startswith("\n") else []


def follow(directory: Path, keep: Filter, paint: Painter, out: TextIO, *, stop_after: float | None = None) -> None:
    """Print what is appended to either file until interrupted (or `stop_after` seconds)."""
    followed = [_Followed(directory / name) for name in FILES]
    for f in followed:
        f.open_at_end()
    started = time.monotonic()
    while stop_after is None or time.monotonic() - started < stop_after:
        batch: list[Record] = []
        for f in followed:
            for line in f.poll():
                parsed = parse_line(line)
                if parsed is not None:
                    f.last = parsed
                    if keep(parsed):
                        batch.append(parsed)
                elif f.last is not None and keep(f.last):
                    # A traceback line: printed as it is, in the time slot of its record.
                    cont = Record(f.last.at, "", "", line.rstrip("\n"), f.last.conversation)
                    batch.append(cont)
        batch.sort(key=lambda r: r.at)
        for r in batch:
            out.write(paint(r))
        if batch:
            out.flush()
        time.sleep(POLL_S)


def logs_command(settings: Settings, args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    directory = Path(args.dir) if args.dir else Path(settings.log_dir)
    try:
        since = parse_since(args.since) if args.since else None
    except ValueError as exc:
        print(f"chatwootai logs: {exc}", file=sys.stderr)
        return 2
    if not directory.is_dir():
        print(f"chatwootai logs: {directory} is not a directory (LOG_DIR)", file=sys.stderr)
        return 1
    keep = Filter(since=since, components=frozenset(args.component or ()), conversation=args.conversation)
    paint = Painter(colour=out.isatty())
    try:
        for r in merged(directory, keep, with_rotated=since is not None):
            out.write(paint(r))
        out.flush()
        if args.follow:
            follow(directory, keep, paint, out)
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:  # `chatwootai logs | head`
        sys.stderr.close()
    return 0

