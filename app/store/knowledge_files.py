"""The knowledge directory's YAML files (SPEC §8.1) and the whole directory's parse.

Parsing is pure: files → the frozen dataclasses of `app.store.knowledge_records`, or a
`KnowledgeError` naming file and line (every problem found is kept in `.errors`).
business.yaml and services.yaml are read here; catalog.csv and faq.md in
`app.store.knowledge_tables`. Weekdays and spans are read by `app.timespec`, the one
definition the settings and the worker use too. Loading the result into SQLite is
`app.store.knowledge.KnowledgeBase`'s business (that module re-exports every name here).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from app import timespec
from app.language import fold
from app.store.knowledge_records import Availability, BusinessInfo, Knowledge, Service
from app.store.knowledge_tables import (
    CATALOG_COLUMNS,
    KnowledgeError,
    parse_catalog,
    parse_faq,
    parse_price,
    read_text,
)

__all__ = [
    "CATALOG_COLUMNS",
    "FILES",
    "KnowledgeError",
    "parse_business",
    "parse_catalog",
    "parse_faq",
    "parse_knowledge_dir",
    "parse_services",
]

FILES = ("business.yaml", "catalog.csv", "faq.md", "services.yaml")


class _Map(dict):
    """A YAML mapping that remembers where it and each of its keys are (1-based lines)."""

    line = 0
    key_lines: dict[Any, int]


class _Seq(list):
    line = 0
    item_lines: list[int]


class _LineLoader(yaml.SafeLoader):
    pass


def _construct_map(loader: yaml.SafeLoader, node: yaml.MappingNode) -> _Map:
    loader.flatten_mapping(node)
    out = _Map()
    out.line, out.key_lines = node.start_mark.line + 1, {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[key] = key_node.start_mark.line + 1
    return out


def _construct_seq(loader: yaml.SafeLoader, node: yaml.SequenceNode) -> _Seq:
    out = _Seq(loader.construct_object(n, deep=True) for n in node.value)
    out.line, out.item_lines = node.start_mark.line + 1, [n.start_mark.line + 1 for n in node.value]
    return out


_LineLoader.add_constructor("tag:yaml.org,2002:map", _construct_map)
_LineLoader.add_constructor("tag:yaml.org,2002:seq", _construct_seq)


def _load_yaml(path: Path) -> _Map:
    name = path.name
    text = read_text(path)
    try:
        data = yaml.load(text, Loader=_LineLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        hint = " (indent with spaces, not tabs)" if "\t" in text else ""
        raise KnowledgeError(name, line, f"YAML syntax error: {exc.problem}{hint}") from None
    if not isinstance(data, _Map):
        raise KnowledgeError(name, 1, "expected a mapping of keys at the top level")
    return _lower_keys(data, name)


def _lower_keys(data: _Map, file: str) -> _Map:
    """`Hours:` and `hours:` are the same key; both in one mapping is refused."""
    out = _Map()
    out.line, out.key_lines = data.line, {}
    for key, value in data.items():
        lowered = key.strip().lower() if isinstance(key, str) else key
        line = data.key_lines.get(key, data.line)
        if lowered in out:
            raise KnowledgeError(file, line, f"key '{key}' repeats line {out.key_lines[lowered]}")
        out[lowered], out.key_lines[lowered] = value, line
    return out


def _require(data: _Map, key: str, file: str, kind: type | tuple[type, ...] = str) -> Any:
    if key not in data or data[key] is None or data[key] == "":
        raise KnowledgeError(file, data.line, f"missing required key '{key}'")
    value = data[key]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise KnowledgeError(file, data.key_lines.get(key, data.line), f"'{key}' has the wrong type")
    return value


def _optional_str(data: _Map, key: str) -> str | None:
    value = data.get(key)
    return str(value).strip() if value not in (None, "") else None


def _parse_week(value: Any, file: str, line: int) -> dict[str, tuple[str, ...]]:
    """weekday (as people write it, or a range: `seg-sex`) → spans; errors point at the line.

    A day's value may be a list of spans, one string ("09:00-12:00, 14:00-18:00"), or closed
    (`closed`, `fechado`, `[]`, empty). Days not named are closed.
    """
    if value is None or value == "":
        return {}
    if isinstance(value, str):  # the BUSINESS_HOURS form: "seg a sex 09:00-18:00; sáb 09:00-13:00"
        try:
            return timespec.week_text(value)
        except timespec.TimeSpecError as exc:
            raise KnowledgeError(file, line, str(exc)) from None
    if not isinstance(value, _Map):
        raise KnowledgeError(file, line, 'expected weekday → list of "HH:MM-HH:MM"')
    week: dict[str, tuple[str, ...]] = {}
    where: dict[str, int] = {}
    for key, raw in value.items():
        day_line = value.key_lines.get(key, line)
        try:
            days = timespec.weekdays(key)
        except timespec.TimeSpecError as exc:
            raise KnowledgeError(file, day_line, str(exc)) from None
        for day in days:
            if day in week:
                raise KnowledgeError(file, day_line, f"'{key}' names {day} again (already on line {where[day]})")
        week.update({day: _day_spans(raw, key, file, day_line) for day in days})
        where.update({day: day_line for day in days})
    return {day: week[day] for day in timespec.WEEKDAYS if day in week}


def _day_spans(raw: Any, key: object, file: str, day_line: int) -> tuple[str, ...]:
    if timespec.is_closed(raw):
        return ()
    items = raw if isinstance(raw, list) else [raw]
    lines = getattr(raw, "item_lines", None) or [day_line] * len(items)
    for item, item_line in zip(items, lines, strict=True):
        if not isinstance(item, str):
            # YAML reads an unquoted 9:00 as the number 540 (base 60): say what to write instead
            raise KnowledgeError(file, item_line, f"'{key}': write each time range in quotes, like \"09:00-18:00\"")
        try:
            timespec.spans(item)
        except timespec.TimeSpecError as exc:
            raise KnowledgeError(file, item_line, str(exc)) from None
    try:
        return timespec.spans([part for item in items for part in timespec.spans(item)])
    except timespec.TimeSpecError as exc:
        raise KnowledgeError(file, day_line, str(exc)) from None


def parse_business(path: Path) -> BusinessInfo:
    file = path.name
    data = _load_yaml(path)
    timezone = _require(data, "timezone", file).strip()
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise KnowledgeError(file, data.key_lines["timezone"], f"unknown time zone '{timezone}'") from None
    hours = _parse_week(_require(data, "hours", file, (dict, str)), file, data.key_lines["hours"])
    return BusinessInfo(
        name=_require(data, "name", file).strip(),
        description=_require(data, "description", file).strip(),
        language=_require(data, "language", file).strip(),
        timezone=timezone,
        hours=hours,
        handoff_message=_require(data, "handoff_message", file).strip(),
        greeting=_require(data, "greeting", file).strip(),
        address=_optional_str(data, "address"),
        phone=_optional_str(data, "phone"),
        website=_optional_str(data, "website"),
        policies=_optional_str(data, "policies"),
    )


def _positive_int(data: _Map, key: str, file: str) -> int:
    """A whole number of at least 1; "60" and "60 min" are read as 60."""
    raw = _require(data, key, file, (int, str))
    line = data.key_lines.get(key, data.line)
    match = re.fullmatch(r"\s*(\d+)\s*(min|mins|minutos|minutes)?\s*", raw) if isinstance(raw, str) else None
    value = int(match[1]) if match else raw
    if not isinstance(value, int):
        raise KnowledgeError(file, line, f"'{key}' must be a whole number, got '{raw}'")
    if value < 1:
        raise KnowledgeError(file, line, f"'{key}' must be at least 1, got {value}")
    return value


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", fold(text)).strip("-")


def parse_services(path: Path) -> tuple[tuple[Service, ...], Availability]:
    file = path.name
    data = _load_yaml(path)
    raw_services = _require(data, "services", file, list)
    services: list[Service] = []
    seen: dict[str, int] = {}
    for item, line in zip(raw_services, raw_services.item_lines, strict=True):
        if not isinstance(item, _Map):
            raise KnowledgeError(file, line, "each service is a mapping {id, name, duration_min, price}")
        item = _lower_keys(item, file)
        name = _require(item, "name", file).strip()
        # no id: one derived from the name ("Limpeza de pele" → limpeza-de-pele)
        service_id = str(item["id"]).strip() if item.get("id") not in (None, "") else _slug(name)
        if service_id in seen:
            raise KnowledgeError(file, line, f"duplicate service id '{service_id}' (first on line {seen[service_id]})")
        seen[service_id] = line
        price_line = item.key_lines.get("price", item.line)
        price, sign = parse_price(_require(item, "price", file, (int, float, str)), file, price_line)
        currency = str(item.get("currency") or data.get("currency") or sign or "BRL").upper()
        services.append(Service(service_id, name, _positive_int(item, "duration_min", file), price, currency))
    availability = Availability(
        weekly=_parse_week(_require(data, "availability", file, (dict, str)), file, data.key_lines["availability"]),
        slot_minutes=_positive_int(data, "slot_minutes", file),
        capacity=_positive_int(data, "capacity", file),
        days_ahead=_positive_int(data, "days_ahead", file),
    )
    return tuple(services), availability


def parse_knowledge_dir(directory: Path) -> Knowledge:
    """Parse and validate all four files. Every file is read, so one `KnowledgeError` reports
    the problems of all of them (first one in its message, all in `.errors`)."""
    directory = Path(directory)
    errors: list[KnowledgeError] = []
    parsed: dict[str, Any] = {}
    parsers = {
        "business.yaml": parse_business,
        "catalog.csv": parse_catalog,
        "faq.md": parse_faq,
        "services.yaml": parse_services,
    }
    for name, parse in parsers.items():
        path = directory / name
        if not path.is_file():
            errors.append(KnowledgeError(name, None, f"file missing from {directory}"))
            continue
        try:
            parsed[name] = parse(path)
        except KnowledgeError as exc:
            errors.append(exc)
        except OSError as exc:
            errors.append(KnowledgeError(name, None, f"cannot read: {exc.strerror}"))
    if errors:
        raise KnowledgeError.combine(errors)
    services, availability = parsed["services.yaml"]
    return Knowledge(
        business=parsed["business.yaml"],
        products=parsed["catalog.csv"],
        faq=parsed["faq.md"],
        services=services,
        availability=availability,
    )
