"""The knowledge directory's files (SPEC §8.1): parse and validate them into typed records.

Parsing is pure: files → the frozen dataclasses of `app.store.knowledge_records`, or a
`KnowledgeError` naming file and line. Loading the result into SQLite is
`app.store.knowledge.KnowledgeBase`'s business (that module re-exports every name here).
"""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from app.errors import ChatwootAIError
from app.store.knowledge_records import (
    WEEKDAYS,
    Availability,
    BusinessInfo,
    FaqEntry,
    Knowledge,
    Product,
    Service,
)

CATALOG_COLUMNS = ("sku", "name", "description", "price", "currency", "stock", "category")
FILES = ("business.yaml", "catalog.csv", "faq.md", "services.yaml")
_SPAN = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")


class KnowledgeError(ChatwootAIError):
    """A malformed knowledge file: `file` and `line` (1-based, None when it is the whole file)."""

    def __init__(self, file: str, line: int | None, problem: str):
        self.file, self.line, self.problem = file, line, problem
        where = f"{file}:{line}" if line else file
        super().__init__(f"{where}: {problem}")


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
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_LineLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise KnowledgeError(
            name, mark.line + 1 if mark else None, f"YAML syntax error: {exc.problem}"
        ) from None
    except UnicodeDecodeError:
        raise KnowledgeError(name, None, "not UTF-8 text") from None
    if not isinstance(data, _Map):
        raise KnowledgeError(name, 1, "expected a mapping of keys at the top level")
    return data


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
    """weekday → list of "HH:MM-HH:MM"; the error points at the offending weekday or span."""
    if not isinstance(value, _Map):
        raise KnowledgeError(file, line, 'expected weekday → list of "HH:MM-HH:MM"')
    week: dict[str, tuple[str, ...]] = {}
    for day, spans in value.items():
        day_line = value.key_lines.get(day, line)
        if str(day).lower() not in WEEKDAYS:
            raise KnowledgeError(
                file, day_line, f"unknown weekday '{day}' (use mon, tue, wed, thu, fri, sat, sun)"
            )
        if isinstance(spans, str):
            spans = _Seq([spans])
            spans.item_lines = [day_line]
        if not isinstance(spans, list):
            raise KnowledgeError(file, day_line, f"'{day}': expected a list of \"HH:MM-HH:MM\"")
        lines = getattr(spans, "item_lines", [day_line] * len(spans))
        for span, span_line in zip(spans, lines, strict=True):
            match = _SPAN.match(str(span)) if isinstance(span, str) else None
            if not match or span[:5] >= span[6:]:
                raise KnowledgeError(file, span_line, f"'{span}' is not a time range \"HH:MM-HH:MM\"")
        week[str(day).lower()] = tuple(spans)
    return week


def parse_business(path: Path) -> BusinessInfo:
    file = path.name
    data = _load_yaml(path)
    timezone = _require(data, "timezone", file)
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise KnowledgeError(file, data.key_lines["timezone"], f"unknown time zone '{timezone}'") from None
    hours = _parse_week(_require(data, "hours", file, dict), file, data.key_lines["hours"])
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
    value = _require(data, key, file, int)
    if value < 1:
        raise KnowledgeError(file, data.key_lines[key], f"'{key}' must be at least 1, got {value}")
    return value


def parse_services(path: Path) -> tuple[tuple[Service, ...], Availability]:
    file = path.name
    data = _load_yaml(path)
    raw_services = _require(data, "services", file, list)
    services: list[Service] = []
    seen: set[str] = set()
    for item, line in zip(raw_services, raw_services.item_lines, strict=True):
        if not isinstance(item, _Map):
            raise KnowledgeError(file, line, "each service is a mapping {id, name, duration_min, price}")
        service_id = str(_require(item, "id", file, (str, int))).strip()
        if service_id in seen:
            raise KnowledgeError(file, item.key_lines["id"], f"duplicate service id '{service_id}'")
        seen.add(service_id)
        price = _decimal(_require(item, "price", file, (int, float, str)), file, item.key_lines["price"])
        name = _require(item, "name", file).strip()
        currency = str(item.get("currency") or data.get("currency") or "BRL").upper()
        services.append(Service(service_id, name, _positive_int(item, "duration_min", file), price, currency))
    availability = Availability(
        weekly=_parse_week(_require(data, "availability", file, dict), file, data.key_lines["availability"]),
        slot_minutes=_positive_int(data, "slot_minutes", file),
        capacity=_positive_int(data, "capacity", file),
        days_ahead=_positive_int(data, "days_ahead", file),
    )
    return tuple(services), availability


def _decimal(raw: Any, file: str, line: int) -> Decimal:
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        raise KnowledgeError(file, line, f"price '{raw}' is not a number") from None
    if not value.is_finite() or value < 0:
        raise KnowledgeError(file, line, f"price '{raw}' must be a number of at least 0")
    return value.quantize(Decimal("0.01"))


def parse_catalog(path: Path) -> tuple[Product, ...]:
    file = path.name
    try:
        text = path.read_text(encoding="utf-8-sig")  # tolerate the BOM spreadsheet exports add
    except UnicodeDecodeError:
        raise KnowledgeError(file, None, "not UTF-8 text") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        raise KnowledgeError(file, 1, f"empty file; expected the header {','.join(CATALOG_COLUMNS)}")
    header = [h.strip().lower() for h in header]
    missing = [c for c in CATALOG_COLUMNS if c not in header]
    if missing:
        raise KnowledgeError(file, 1, f"header is missing column(s) {', '.join(missing)}")
    index = {c: header.index(c) for c in CATALOG_COLUMNS}
    products: list[Product] = []
    skus: set[str] = set()
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise KnowledgeError(file, line, f"expected {len(header)} columns, found {len(row)}")
        cell = {c: row[i].strip() for c, i in index.items()}
        for column in ("sku", "name", "price", "stock"):
            if not cell[column]:
                raise KnowledgeError(file, line, f"'{column}' is empty")
        if cell["sku"] in skus:
            raise KnowledgeError(file, line, f"duplicate sku '{cell['sku']}'")
        skus.add(cell["sku"])
        raw_price = cell["price"]
        if raw_price.count(",") == 1 and "." not in raw_price:  # a quoted Brazilian "49,90"
            raw_price = raw_price.replace(",", ".")
        price = _decimal(raw_price, file, line)
        try:
            stock = int(cell["stock"])
        except ValueError:
            raise KnowledgeError(file, line, f"stock '{cell['stock']}' is not a whole number") from None
        if stock < 0:
            raise KnowledgeError(file, line, f"stock must not be negative, got {stock}")
        products.append(
            Product(
                cell["sku"],
                cell["name"],
                cell["description"],
                price,
                (cell["currency"] or "BRL").upper(),
                stock,
                cell["category"],
            )
        )
    return tuple(products)


def parse_faq(path: Path) -> tuple[FaqEntry, ...]:
    """`## question` then its answer. A leading `# title` and intro are allowed; loose text is not."""
    file = path.name
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError:
        raise KnowledgeError(file, None, "not UTF-8 text") from None
    entries: list[FaqEntry] = []
    question: str | None = None
    question_line = 0
    answer: list[str] = []
    titled = False

    def close() -> None:
        if question is None:
            return
        text = "\n".join(answer).strip()
        if not text:
            raise KnowledgeError(file, question_line, f"question '{question}' has no answer")
        entries.append(FaqEntry(question, text))

    for number, raw in enumerate(lines, start=1):
        stripped = raw.strip()
        if raw.startswith("##") and not raw.startswith("###"):
            close()
            question, question_line, answer = raw[2:].strip(), number, []
            if not question:
                raise KnowledgeError(file, number, "empty '## ' heading: the question is missing")
        elif question is None:
            if raw.startswith("# ") and not titled and not entries:
                titled = True
            elif stripped and not titled:
                raise KnowledgeError(file, number, "text without a '## question' heading above it")
        else:
            answer.append(raw)
    close()
    if not entries:
        raise KnowledgeError(file, None, "no '## question' headings found")
    return tuple(entries)


def parse_knowledge_dir(directory: Path) -> Knowledge:
    """Parse and validate all four files; the first problem raises `KnowledgeError`."""
    directory = Path(directory)
    for name in FILES:
        if not (directory / name).is_file():
            raise KnowledgeError(name, None, f"file missing from {directory}")
    services, availability = parse_services(directory / "services.yaml")
    return Knowledge(
        business=parse_business(directory / "business.yaml"),
        products=parse_catalog(directory / "catalog.csv"),
        faq=parse_faq(directory / "faq.md"),
        services=services,
        availability=availability,
    )
