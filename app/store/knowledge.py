"""The knowledge in SQLite: load it with FTS5, search it, reload it when it changes.

The directory's files and rules: docs/operations.md#knowledge-directory.

`KnowledgeBase` owns the SQLite side. A load replaces everything in one transaction, so a
reader sees either the old knowledge or the new one, never half of each; a malformed file is
logged and kept in `.last_error` while the previous data keeps serving.

Parsing the files lives in `app.store.knowledge_files`, the typed records in
`app.store.knowledge_records`; both are re-exported here, so callers import every knowledge
name from this module.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from decimal import Decimal
from pathlib import Path
from typing import Any

from loguru import logger

# The hub's text helpers are a pure module (no crewai); sharing them keeps index-side and
# rule-side word handling identical.
from app.language import STOPWORDS, fold, fts_query, search_terms, stem, words
from app.store.db import migrate, transaction
from app.store.knowledge_files import (
    CATALOG_COLUMNS,
    FILES,
    KnowledgeError,
    parse_business,
    parse_catalog,
    parse_faq,
    parse_knowledge_dir,
    parse_services,
)
from app.store.knowledge_records import (
    WEEKDAYS,
    Availability,
    BusinessInfo,
    FaqEntry,
    Knowledge,
    Product,
    Service,
    format_money,
)

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
    # stock may be empty (not tracked); the table is rebuilt from the files at the next load.
    # kn_status: what the worker's last look at the files found, read by the web's /ready.
    """
    DROP TABLE kn_products;
    CREATE TABLE kn_products (
        sku TEXT PRIMARY KEY, name TEXT NOT NULL, description TEXT NOT NULL, price TEXT NOT NULL,
        currency TEXT NOT NULL, stock INTEGER, category TEXT NOT NULL, position INTEGER NOT NULL
    );
    DELETE FROM kn_products_fts;
    DELETE FROM kn_meta WHERE key = 'fingerprint';
    CREATE TABLE kn_status (
        id INTEGER PRIMARY KEY CHECK (id = 1), ok INTEGER NOT NULL, errors TEXT NOT NULL,
        summary TEXT NOT NULL, directory TEXT NOT NULL, updated_at REAL NOT NULL
    );
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


def knowledge_status(conn: sqlite3.Connection) -> dict[str, Any] | None:
    """The worker's last look at the knowledge files (None before any): for the web's /ready."""
    try:
        row = conn.execute("SELECT * FROM kn_status WHERE id = 1").fetchone()
    except sqlite3.OperationalError:
        return None  # the worker never ran against this store: its tables do not exist yet
    if row is None:
        return None
    return {
        "ok": bool(row["ok"]),
        "errors": json.loads(row["errors"]),
        **json.loads(row["summary"]),
        "directory": row["directory"],
        "updated_at": row["updated_at"],
    }


def _singular(word: str) -> str:
    if len(word) > 4 and word.endswith("es") and not word.endswith("ses"):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def _query_words(query: str) -> list[str]:
    """The question's words worth matching (as `search_terms`, but whole words, singular)."""
    out: list[str] = []
    for word in words(query):
        if len(word) >= 2 and word not in STOPWORDS and not word.isdigit() and _singular(word) not in out:
            out.append(_singular(word))
    return out


def _match_score(asked: list[str], found: list[str]) -> float:
    total = 0.0
    for word in asked:
        if any(_singular(w) == word for w in found):
            total += 1.0
        elif any(w.startswith(stem(word)) for w in found):
            total += 0.5
    return total


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

    def refresh(self, conn: sqlite3.Connection, *, force: bool = False, strict: bool = False) -> bool:
        """Reload when the files changed since the last look; True when new data was loaded.

        Looks at the files at most every `check_interval_s` unless forced. A malformed file is
        logged with file and line, kept in `last_error` and recorded in the store's status (so
        the web's /ready turns 503), and the data already in the store keeps serving. With
        `strict` (the worker's start) the `KnowledgeError` is raised instead.
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
                self._record_status(conn, None)
                return False
            try:
                knowledge = parse_knowledge_dir(self.directory)
            except KnowledgeError as exc:
                self.last_error = exc
                self._record_status(conn, exc)
                if strict:
                    raise
                logger.warning("knowledge not reloaded, previous data kept: {} (in {})", exc, self.directory)
                for more in exc.errors[1:]:
                    logger.warning("knowledge problem: {}", more)
                return False
            self._store(conn, knowledge, current)
            self.last_error = None
            self._record_status(conn, None)
            logger.info(
                "knowledge loaded from {}: {} products, {} FAQ entries, {} services",
                self.directory,
                len(knowledge.products),
                len(knowledge.faq),
                len(knowledge.services),
            )
            return True

    def _record_status(self, conn: sqlite3.Connection, error: KnowledgeError | None) -> None:
        """What the web's /ready shows. Best effort: a store that cannot take this write (disk
        full) has bigger problems, reported by their own checks."""
        try:
            summary = {
                table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608 - fixed names
                for table in ("kn_products", "kn_faq")
            }
            conn.execute(
                "INSERT INTO kn_status (id, ok, errors, summary, directory, updated_at) VALUES (1, ?, ?, ?, ?, ?)"
                " ON CONFLICT(id) DO UPDATE SET ok = excluded.ok, errors = excluded.errors,"
                " summary = excluded.summary, directory = excluded.directory, updated_at = excluded.updated_at",
                (
                    0 if error else 1,
                    json.dumps([str(e) for e in error.errors] if error else []),
                    json.dumps({"products": summary["kn_products"], "faq": summary["kn_faq"]}),
                    str(self.directory),
                    time.time(),
                ),
            )
        except sqlite3.Error as exc:
            logger.warning("knowledge status not recorded: {}", exc)

    @staticmethod
    def _stored_fingerprint(conn: sqlite3.Connection) -> str | None:
        row = conn.execute("SELECT value FROM kn_meta WHERE key = 'fingerprint'").fetchone()
        return row["value"] if row else None

    @staticmethod
    def _store(conn: sqlite3.Connection, k: Knowledge, print_: str) -> None:
        """Replace everything in one transaction: readers see the old set or the new one."""
        with transaction(conn):
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
        """The products that match the question best, and only those.

        FTS5 finds every product with any of the terms; each is then scored per question word
        (1 when the word itself is there, "protetores" finding "protetor"; ½ when only its
        five-letter stem is, "hidratante" finding "hidratação", "óleo" finding "oleosa") and only the best-scoring ones
        are kept: "protetor solar facial" → the facial sunscreen, not every "facial" product.
        Among those, bm25 orders (name and category weigh more than the description).
        """
        terms = search_terms(query)
        if not terms:
            return []
        rows = conn.execute(
            "SELECT p.* FROM kn_products_fts f JOIN kn_products p ON p.sku = f.sku "
            "WHERE kn_products_fts MATCH ? "
            "ORDER BY bm25(kn_products_fts, 0, 10.0, 1.0, 5.0), p.position LIMIT 200",
            (fts_query(terms),),
        ).fetchall()
        asked = _query_words(query)
        scores = [_match_score(asked, words(" ".join((r["name"], r["description"], r["category"])))) for r in rows]
        best = max(scores, default=0.0)
        kept = [row for row, score in zip(rows, scores, strict=True) if best > 0 and score == best]
        return [_product_from_row(r) for r in kept[: max(1, limit)]]

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
    "CATALOG_COLUMNS",
    "FILES",
    "WEEKDAYS",
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
    "knowledge_status",
    "parse_business",
    "parse_catalog",
    "parse_faq",
    "parse_knowledge_dir",
    "parse_services",
]
