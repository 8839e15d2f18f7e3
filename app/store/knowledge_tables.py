"""catalog.csv and faq.md as operators really write them (SPEC §8.1), plus the shared error type.

What a spreadsheet or a text editor produces is accepted when its meaning is unambiguous:
a BOM, CRLF, `;` or tab separators (a pt-BR Excel export), Portuguese column names, extra
columns, prices like "29,90", "R$ 1.234,56" or "29.90", an empty stock cell (stock not
tracked). What could mean two things ("1.234" — a thousand or one?) is refused with file:line.
"""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal, InvalidOperation
from pathlib import Path

from app.errors import ChatwootAIError
from app.language import fold
from app.store.knowledge_records import FaqEntry, Product

CATALOG_COLUMNS = ("sku", "name", "description", "price", "currency", "stock", "category")
REQUIRED_COLUMNS = ("sku", "name", "price")
# Column names as a Brazilian operator may write them (folded: no accents, lower case).
_COLUMN_ALIASES = {
    "sku": ("sku", "codigo", "cod", "ref", "referencia", "id"),
    "name": ("name", "nome", "produto", "product"),
    "description": ("description", "descricao", "desc", "detalhes"),
    "price": ("price", "preco", "valor", "preco (r$)", "valor (r$)", "price (brl)"),
    "currency": ("currency", "moeda"),
    "stock": ("stock", "estoque", "quantidade", "qtd", "qty", "quantity"),
    "category": ("category", "categoria"),
}
_CURRENCY_SIGNS = {"r$": "BRL", "us$": "USD", "$": None, "€": "EUR", "£": "GBP"}


class KnowledgeError(ChatwootAIError):
    """A malformed knowledge file: `file` and `line` (1-based, None when it is the whole file).

    `errors` holds every problem found (this one first); the message names the first and counts
    the rest, so one log line stays one line.
    """

    def __init__(self, file: str, line: int | None, problem: str, *, more: list[KnowledgeError] | None = None):
        self.file, self.line, self.problem = file, line, problem
        self.errors: list[KnowledgeError] = [self, *(more or [])]
        where = f"{file}:{line}" if line else file
        extra = f" (and {len(more)} more problem(s))" if more else ""
        super().__init__(f"{where}: {problem}{extra}")

    @property
    def location(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file

    @classmethod
    def combine(cls, errors: list[KnowledgeError]) -> KnowledgeError:
        flat = [e for error in errors for e in error.errors]
        first = flat[0]
        return cls(first.file, first.line, first.problem, more=flat[1:])


def read_text(path: Path) -> str:
    """UTF-8 with or without a BOM; other encodings are refused at the line of the first bad byte."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise KnowledgeError(
            path.name, line, "not UTF-8 text (save the file as UTF-8, e.g. Excel's 'CSV UTF-8')"
        ) from None


def parse_price(raw: object, file: str, line: int) -> tuple[Decimal, str | None]:
    """(amount, currency named by a sign or None): 29.90, "29,90", "R$ 1.234,56", "1,234.56", 30."""
    text = str(raw).strip()
    currency: str | None = None
    lowered = text.lower()
    for sign, code in sorted(_CURRENCY_SIGNS.items(), key=lambda item: -len(item[0])):
        if lowered.startswith(sign) or lowered.endswith(sign):
            text = (text[len(sign) :] if lowered.startswith(sign) else text[: -len(sign)]).strip()
            currency = code
            break
    text = text.replace(" ", "").replace("\u00a0", "")
    bad = KnowledgeError(file, line, f"price '{raw}' is not a number (write 29.90 or 29,90)")
    if not re.fullmatch(r"\d[\d.,]*", text):
        raise bad
    if "," in text and "." in text:
        decimal_mark = "," if text.rfind(",") > text.rfind(".") else "."
        thousands = "." if decimal_mark == "," else ","
        whole, _, cents = text.rpartition(decimal_mark)
        if not re.fullmatch(rf"\d{{1,3}}(\{thousands}\d{{3}})*", whole) or not re.fullmatch(r"\d{1,2}", cents):
            raise bad
        text = whole.replace(thousands, "") + "." + cents
    elif "," in text or "." in text:
        mark = "," if "," in text else "."
        groups = text.split(mark)
        if len(groups) == 2 and 1 <= len(groups[1]) <= 2:
            text = groups[0] + "." + groups[1]  # 29,90 / 29.9
        elif all(len(g) == 3 for g in groups[1:]) and 1 <= len(groups[0]) <= 3:
            if len(groups) == 2:
                raise KnowledgeError(
                    file, line, f"price '{raw}' is ambiguous: write 1234.00 or 1.234,00 (or 1.23)"
                )
            text = "".join(groups)  # 1.234.567
        else:
            raise bad
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise bad from None
    return value.quantize(Decimal("0.01")), currency


def _delimiter(header_line: str) -> str:
    """`,` unless the header clearly uses `;` (Excel in pt-BR) or tabs."""
    counts = {d: header_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


def _column_index(header: list[str], file: str) -> dict[str, int]:
    names = [fold(h).strip().strip('"').strip() for h in header]
    index: dict[str, int] = {}
    for column, aliases in _COLUMN_ALIASES.items():
        found = [i for i, name in enumerate(names) if name in aliases]
        if len(found) > 1:
            both = " and ".join(header[i].strip() for i in found)
            raise KnowledgeError(file, 1, f"columns {both} both mean '{column}': keep one")
        if found:
            index[column] = found[0]
    missing = [c for c in REQUIRED_COLUMNS if c not in index]
    if missing:
        raise KnowledgeError(
            file, 1, f"header is missing column(s) {', '.join(missing)} (expected {','.join(CATALOG_COLUMNS)})"
        )
    return index


def parse_catalog(path: Path) -> tuple[Product, ...]:
    """Every row is checked; all bad rows are reported together (one error listing each line)."""
    file = path.name
    text = read_text(path)
    first_line = text.split("\n", 1)[0]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(first_line))
    header = next(reader, None)
    if header is None or not any(h.strip() for h in header):
        raise KnowledgeError(file, 1, f"empty file; expected the header {','.join(CATALOG_COLUMNS)}")
    index = _column_index(header, file)
    products: list[Product] = []
    errors: list[KnowledgeError] = []
    skus: dict[str, int] = {}
    line = 1
    for row in reader:
        row_line = line + 1  # where the row starts (a quoted cell may span lines)
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        try:
            products.append(_product(row, header, index, file, row_line, skus))
        except KnowledgeError as exc:
            errors.append(exc)
    if errors:
        raise KnowledgeError.combine(errors)
    if not products:
        raise KnowledgeError(file, None, "no products: only the header is there")
    return tuple(products)


def _product(
    row: list[str], header: list[str], index: dict[str, int], file: str, line: int, skus: dict[str, int]
) -> Product:
    if len(row) > len(header) and any(cell.strip() for cell in row[len(header) :]):
        raise KnowledgeError(
            file,
            line,
            f"expected {len(header)} columns, found {len(row)} (a cell that contains the separator "
            "must be in double quotes)",
        )
    if len(row) < len(header):
        raise KnowledgeError(file, line, f"expected {len(header)} columns, found {len(row)}")
    cell = {c: row[i].strip() for c, i in index.items()}
    for column in REQUIRED_COLUMNS:
        if not cell[column]:
            raise KnowledgeError(file, line, f"'{column}' is empty")
    sku = cell["sku"]
    if sku.lower() in skus:
        raise KnowledgeError(file, line, f"duplicate sku '{sku}' (first on line {skus[sku.lower()]})")
    skus[sku.lower()] = line
    price, sign_currency = parse_price(cell["price"], file, line)
    currency = _currency(cell.get("currency", ""), sign_currency, file, line)
    return Product(
        sku, cell["name"], cell.get("description", ""), price, currency,
        _stock(cell.get("stock", ""), file, line), cell.get("category", ""),
    )  # fmt: skip


def _currency(column: str, sign: str | None, file: str, line: int) -> str:
    named = column.strip().upper()
    if named in ("R$", "REAL", "REAIS"):
        named = "BRL"
    if named and not re.fullmatch(r"[A-Z]{3}", named):
        raise KnowledgeError(file, line, f"currency '{column}' is not a 3-letter code like BRL or USD")
    if named and sign and named != sign:
        raise KnowledgeError(file, line, f"the price says {sign} but the currency column says {named}")
    return named or sign or "BRL"


def _stock(raw: str, file: str, line: int) -> int | None:
    """Empty: not tracked (always available). Otherwise a whole number, "1.000" read as 1000."""
    if not raw:
        return None
    text = raw.replace(".", "") if re.fullmatch(r"\d{1,3}(\.\d{3})+", raw) else raw
    try:
        stock = int(text)
    except ValueError:
        raise KnowledgeError(file, line, f"stock '{raw}' is not a whole number") from None
    if stock < 0:
        raise KnowledgeError(file, line, f"stock must not be negative, got {stock}")
    return stock


# ---- faq.md

_HEADING = re.compile(r"^ {0,3}(#{1,6})\s*(.*?)\s*#*\s*$")
_LIST_ITEM = re.compile(r"^\s*([-*+•]|\d{1,3}[.)])\s+")


def _question_level(levels: list[int]) -> int:
    """`##` when the file has any; else the level under a single `# title` (`###` questions);
    else `#` (a file of `# question` headings)."""
    if 2 in levels or not levels:
        return 2
    deeper = [level for level in levels if level > 1]
    if levels.count(1) == 1 and deeper:
        return min(deeper)
    return min(levels)


def parse_faq(path: Path) -> tuple[FaqEntry, ...]:
    """Questions are `## ` headings (in a file without any: `# ` headings, or `### ` ones under a
    single `# title`); the text under one is its answer. A title and an introduction may come
    before the first question; deeper headings belong to the answer."""
    file = path.name
    lines = read_text(path).splitlines()
    level = _question_level([len(m[1]) for m in (_HEADING.match(raw) for raw in lines) if m])
    entries: list[FaqEntry] = []
    errors: list[KnowledgeError] = []
    question: str | None = None
    question_line = 0
    answer: list[str] = []
    seen: dict[str, int] = {}
    titled = False  # a `# title` above `## ` questions may be followed by an introduction

    def close() -> None:
        if question is None:
            return
        text = reflow(answer)
        if not text:
            errors.append(KnowledgeError(file, question_line, f"question '{question}' has no answer"))
        elif fold(question) in seen:
            errors.append(
                KnowledgeError(file, question_line, f"question '{question}' repeats line {seen[fold(question)]}")
            )
        else:
            seen[fold(question)] = question_line
            entries.append(FaqEntry(question, text))

    for number, raw in enumerate(lines, start=1):
        heading = _HEADING.match(raw)
        if heading and len(heading[1]) == level:
            close()
            question, question_line, answer = heading[2], number, []
            if not question:
                errors.append(KnowledgeError(file, number, f"empty '{'#' * level} ' heading: the question is missing"))
                question = None
        elif question is None:
            if heading is not None and len(heading[1]) < level and not titled:
                titled = True
            elif raw.strip() and not titled:
                errors.append(
                    KnowledgeError(file, number, f"text without a '{'#' * level} question' heading above it")
                )
        else:
            answer.append(raw)
    close()
    if errors:
        raise KnowledgeError.combine(errors)
    if not entries:
        raise KnowledgeError(file, None, "no '## question' headings found")
    return tuple(entries)


def reflow(lines: list[str]) -> str:
    """An answer as a chat message: the editor's hard line breaks joined, paragraphs (blank lines),
    headings, list items and Markdown hard breaks (two trailing spaces or a backslash) kept. A
    list item's continuation is indented; an unindented line after a list starts a new line."""
    paragraphs: list[list[str]] = [[]]
    kind = ""  # what the previous line was: "", "text", "item", "heading", "break"
    for raw in lines:
        if not raw.strip():
            if paragraphs[-1]:
                paragraphs.append([])
            kind = ""
            continue
        current = paragraphs[-1]
        text = raw.strip()
        item, heading = bool(_LIST_ITEM.match(raw)), bool(_HEADING.match(raw))
        continues = kind == "text" or (kind == "item" and raw[:1].isspace())
        if current and continues and not item and not heading:
            current[-1] = f"{current[-1]} {text}"
        else:
            current.append(text)
            kind = "item" if item else "heading" if heading else "text"
        if raw.endswith("  ") or raw.rstrip().endswith("\\"):
            current[-1] = current[-1].rstrip().removesuffix("\\").rstrip()
            kind = "break"
        elif heading:
            kind = "heading"
    return "\n\n".join("\n".join(p) for p in paragraphs if p).strip()
