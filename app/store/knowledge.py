"""The knowledge directory (SPEC §8.1): parse, validate, load into SQLite with FTS5, reload.

Parsing is pure (files → frozen dataclasses, or a `KnowledgeError` naming file and line);
`KnowledgeBase` owns the SQLite side. A load replaces everything in one transaction, so a
reader sees either the old knowledge or the new one, never half of each; a malformed file is
logged and kept in `.last_error` while the previous data keeps serving.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from loguru import logger

from app.errors import ChatwootAIError

# The hub's text helpers are a pure module (no crewai); sharing them keeps index-side and
# rule-side word handling identical.
from app.hub.language import fold, fts_query, search_terms, words
from app.store.db import migrate

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CATALOG_COLUMNS = ("sku", "name", "description", "price", "currency", "stock", "category")
FILES = ("business.yaml", "catalog.csv", "faq.md", "services.yaml")
_SPAN = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")


class KnowledgeError(ChatwootAIError):
    """A malformed knowledge file: `file` and `line` (1-based, None when it is the whole file)."""

    def __init__(self, file: str, line: int | None, problem: str):
        self.file, self.line, self.problem = file, line, problem
        where = f"{file}:{line}" if line else file
        super().__init__(f"{where}: {problem}")


# --------------------------------------------------------------------------- the typed records


def format_money(price: Decimal, currency: str) -> str:
    """BRL the Brazilian way (R$ 1.234,50); anything else as `USD 12.50`."""
    if currency.upper() == "BRL":
        text = f"{price:,.2f}".replace(",", "_").replace(".", ",").replace("_", ".")
        return f"R$ {text}"
    return f"{currency.upper()} {price:.2f}"


def _english(language: str | None) -> bool:
    return bool(language) and language.lower().startswith("en")


@dataclass(frozen=True)
class Product:
    sku: str
    name: str
    description: str
    price: Decimal
    currency: str
    stock: int
    category: str

    @property
    def in_stock(self) -> bool:
        return self.stock > 0

    def describe(self, language: str = "pt-BR") -> str:
        if _english(language):
            stock = f"in stock: {self.stock}" if self.in_stock else "out of stock"
        else:
            stock = f"em estoque: {self.stock}" if self.in_stock else "esgotado"
        return f"{self.name} — {format_money(self.price, self.currency)} ({stock})"


@dataclass(frozen=True)
class FaqEntry:
    question: str
    answer: str
    score: float = 0.0  # higher is better; 1.0 = every query word found in the question

    def describe(self, language: str = "pt-BR") -> str:
        return f"{self.question}\n{self.answer}"


@dataclass(frozen=True)
class Service:
    id: str
    name: str
    duration_min: int
    price: Decimal
    currency: str = "BRL"  # services.yaml may set `currency` (top level or per service)

    def describe(self, language: str = "pt-BR") -> str:
        return f"{self.name} — {format_money(self.price, self.currency)} ({self.duration_min} min)"


@dataclass(frozen=True)
class Availability:
    weekly: dict[str, tuple[str, ...]]  # weekday (mon..sun) → ("HH:MM-HH:MM", ...)
    slot_minutes: int
    capacity: int
    days_ahead: int


_PT_DAYS = {"mon": "seg", "tue": "ter", "wed": "qua", "thu": "qui", "fri": "sex", "sat": "sáb", "sun": "dom"}


@dataclass(frozen=True)
class BusinessInfo:
    name: str
    description: str
    language: str
    timezone: str
    hours: dict[str, tuple[str, ...]]
    handoff_message: str
    greeting: str
    address: str | None = None
    phone: str | None = None
    website: str | None = None
    policies: str | None = None

    def describe_hours(self, language: str = "pt-BR") -> str:
        english = _english(language)
        parts = []
        for day in WEEKDAYS:
            label = day.capitalize() if english else _PT_DAYS[day]
            spans = self.hours.get(day)
            parts.append(
                f"{label} {', '.join(spans)}" if spans else f"{label} {'closed' if english else 'fechado'}"
            )
        return "; ".join(parts)

    def describe(self, language: str = "pt-BR") -> str:
        english = _english(language)
        lines = [
            f"{self.name}: {self.description}",
            ("Hours: " if english else "Horário: ") + self.describe_hours(language),
        ]
        for label_en, label_pt, value in (
            ("Address", "Endereço", self.address),
            ("Phone", "Telefone", self.phone),
            ("Website", "Site", self.website),
            ("Policies", "Políticas", self.policies),
        ):
            if value:
                lines.append(f"{label_en if english else label_pt}: {value}")
        return "\n".join(lines)


@dataclass(frozen=True)
class Knowledge:
    business: BusinessInfo
    products: tuple[Product, ...]
    faq: tuple[FaqEntry, ...]
    services: tuple[Service, ...]
    availability: Availability


# --------------------------------------------------------------------------- parsing


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


# --------------------------------------------------------------------------- the SQLite side

KNOWLEDGE_MIGRATIONS = [
    """
    CREATE TABLE kn_products (
        sku TEXT PRIMARY KEY, name TEXT NOT NULL, description TEXT NOT NULL, price TEXT NOT NULL,
        currency TEXT NOT NULL, stock INTEGER NOT NULL, category TEXT NOT NULL, position INTEGER NOT NULL
    );
    CREATE VIRTUAL TABLE kn_products_fts USING fts5(
        sku UNINDEXED, name, description, category, tokenize = 'unicode61 remove_diacritics 2'
    );
    CREATE TABLE kn_faq (id INTEGER PRIMARY KEY, question TEXT NOT NULL, answer TEXT NOT NULL);
    CREATE VIRTUAL TABLE kn_faq_fts USING fts5(
        question, answer, tokenize = 'unicode61 remove_diacritics 2'
    );
    -- business, services, availability (small JSON documents) and the files' fingerprint
    CREATE TABLE kn_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
]


def fingerprint(directory: Path) -> str:
    """mtime and size of each knowledge file: cheap to compute, changes on every save."""
    parts = []
    for name in FILES:
        try:
            st = (Path(directory) / name).stat()
            parts.append(f"{name}:{st.st_mtime_ns}:{st.st_size}")
        except OSError:
            parts.append(f"{name}:missing")
    return "|".join(parts)


def _product_from_row(row: sqlite3.Row) -> Product:
    return Product(
        row["sku"],
        row["name"],
        row["description"],
        Decimal(row["price"]),
        row["currency"],
        row["stock"],
        row["category"],
    )


class KnowledgeBase:
    """Loads KNOWLEDGE_DIR into the store and answers searches; callers pass their connection.

    Connections are per thread (the DataProxy's business), so this object only keeps the
    reload bookkeeping, guarded by a lock.
    """

    def __init__(
        self,
        directory: Path,
        *,
        check_interval_s: float = 2.0,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self.directory = Path(directory)
        self.check_interval_s = check_interval_s
        self.last_error: KnowledgeError | None = None
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._checked_at: float | None = None
        self._seen: str | None = None  # fingerprint last tried, good or bad (warn once per change)

    @staticmethod
    def migrate(conn: sqlite3.Connection) -> None:
        migrate(conn, "knowledge", KNOWLEDGE_MIGRATIONS)

    def refresh(self, conn: sqlite3.Connection, *, force: bool = False) -> bool:
        """Reload when the files changed since the last look; True when new data was loaded.

        Looks at the files at most every `check_interval_s` unless forced. Never raises for a
        malformed file: it is logged with file and line, kept in `last_error`, and the data
        already in the store keeps serving.
        """
        with self._lock:
            now = self._monotonic()
            if not force and self._checked_at is not None and now - self._checked_at < self.check_interval_s:
                return False
            self._checked_at = now
            current = fingerprint(self.directory)
            if not force and current == self._seen:
                return False
            self._seen = current
            if not force and self._stored_fingerprint(conn) == current:
                self.last_error = None  # another process (or an earlier run) already loaded it
                return False
            try:
                knowledge = parse_knowledge_dir(self.directory)
            except KnowledgeError as exc:
                self.last_error = exc
                logger.warning("knowledge not reloaded, previous data kept: {} (in {})", exc, self.directory)
                return False
            self._store(conn, knowledge, current)
            self.last_error = None
            logger.info(
                "knowledge loaded from {}: {} products, {} FAQ entries, {} services",
                self.directory,
                len(knowledge.products),
                len(knowledge.faq),
                len(knowledge.services),
            )
            return True

    @staticmethod
    def _stored_fingerprint(conn: sqlite3.Connection) -> str | None:
        row = conn.execute("SELECT value FROM kn_meta WHERE key = 'fingerprint'").fetchone()
        return row["value"] if row else None

    @staticmethod
    def _store(conn: sqlite3.Connection, k: Knowledge, print_: str) -> None:
        """Replace everything in one transaction: readers see the old set or the new one."""
        conn.execute("BEGIN IMMEDIATE")
        try:
            for table in ("kn_products", "kn_products_fts", "kn_faq", "kn_faq_fts", "kn_meta"):
                conn.execute(f"DELETE FROM {table}")
            conn.executemany(
                "INSERT INTO kn_products VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (p.sku, p.name, p.description, str(p.price), p.currency, p.stock, p.category, i)
                    for i, p in enumerate(k.products)
                ],
            )
            conn.executemany(
                "INSERT INTO kn_products_fts (rowid, sku, name, description, category) "
                "VALUES (?, ?, ?, ?, ?)",
                [(i + 1, p.sku, p.name, p.description, p.category) for i, p in enumerate(k.products)],
            )
            conn.executemany(
                "INSERT INTO kn_faq (id, question, answer) VALUES (?, ?, ?)",
                [(i + 1, f.question, f.answer) for i, f in enumerate(k.faq)],
            )
            conn.executemany(
                "INSERT INTO kn_faq_fts (rowid, question, answer) VALUES (?, ?, ?)",
                [(i + 1, f.question, f.answer) for i, f in enumerate(k.faq)],
            )
            meta = {
                "fingerprint": print_,
                "business": json.dumps(asdict(k.business)),
                "services": json.dumps([{**asdict(s), "price": str(s.price)} for s in k.services]),
                "availability": json.dumps(asdict(k.availability)),
            }
            conn.executemany("INSERT INTO kn_meta (key, value) VALUES (?, ?)", list(meta.items()))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    # ---- reads (a store with nothing loaded yet answers empty, never raises)

    @staticmethod
    def _meta(conn: sqlite3.Connection, key: str) -> Any:
        row = conn.execute("SELECT value FROM kn_meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row["value"]) if row else None

    def business(self, conn: sqlite3.Connection) -> BusinessInfo | None:
        data = self._meta(conn, "business")
        if data is None:
            return None
        data["hours"] = {d: tuple(s) for d, s in data["hours"].items()}
        return BusinessInfo(**data)

    def services(self, conn: sqlite3.Connection) -> list[Service]:
        return [
            Service(s["id"], s["name"], s["duration_min"], Decimal(s["price"]), s.get("currency", "BRL"))
            for s in self._meta(conn, "services") or []
        ]

    def availability(self, conn: sqlite3.Connection) -> Availability | None:
        data = self._meta(conn, "availability")
        if data is None:
            return None
        data["weekly"] = {d: tuple(s) for d, s in data["weekly"].items()}
        return Availability(**data)

    def product(self, conn: sqlite3.Connection, sku: str) -> Product | None:
        row = conn.execute(
            "SELECT * FROM kn_products WHERE sku = ? COLLATE NOCASE", (sku.strip(),)
        ).fetchone()
        return _product_from_row(row) if row else None

    def search_products(self, conn: sqlite3.Connection, query: str, limit: int = 5) -> list[Product]:
        terms = search_terms(query)
        if not terms:
            return []
        # name and category weigh more than the description: "protetor" should find protectors
        # before a product whose description merely mentions protection.
        rows = conn.execute(
            "SELECT p.* FROM kn_products_fts f JOIN kn_products p ON p.sku = f.sku "
            "WHERE kn_products_fts MATCH ? "
            "ORDER BY bm25(kn_products_fts, 0, 10.0, 1.0, 5.0), p.position LIMIT ?",
            (fts_query(terms), max(1, limit)),
        ).fetchall()
        return [_product_from_row(r) for r in rows]

    def search_faq(self, conn: sqlite3.Connection, query: str, limit: int = 3) -> list[FaqEntry]:
        """Best entries first; `score` is the share of query terms found (question 1, answer ½)."""
        terms = search_terms(query)
        if not terms:
            return []
        rows = conn.execute(
            "SELECT question, answer FROM kn_faq_fts WHERE kn_faq_fts MATCH ? "
            "ORDER BY bm25(kn_faq_fts, 3.0, 1.0) LIMIT 20",
            (fts_query(terms),),
        ).fetchall()
        scored = []
        for rank, row in enumerate(rows):
            q_words, a_words = words(row["question"]), words(row["answer"])
            total = 0.0
            for term in terms:
                if any(w.startswith(term) for w in q_words):
                    total += 1.0
                elif any(w.startswith(term) for w in a_words):
                    total += 0.5
            scored.append((round(total / len(terms), 3), -rank, row))
        scored.sort(key=lambda item: (item[0], item[1]), reverse=True)
        return [FaqEntry(r["question"], r["answer"], score) for score, _, r in scored[: max(1, limit)]]


__all__ = [
    "Availability",
    "BusinessInfo",
    "FaqEntry",
    "Knowledge",
    "KnowledgeBase",
    "KnowledgeError",
    "Product",
    "Service",
    "fold",
    "format_money",
    "parse_business",
    "parse_catalog",
    "parse_faq",
    "parse_knowledge_dir",
    "parse_services",
]
