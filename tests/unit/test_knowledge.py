"""The knowledge directory: parsing the example, each malformed file with its line, FTS5 search,
reload on change and old data kept when a change is malformed."""

from __future__ import annotations

import os
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from app.settings import EXAMPLE_KNOWLEDGE_DIR
from app.store.db import connect
from app.store.knowledge import (
    KnowledgeBase,
    KnowledgeError,
    parse_business,
    parse_catalog,
    parse_faq,
    parse_knowledge_dir,
    parse_services,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "knowledge"
MALFORMED = FIXTURES / "malformed"


@pytest.fixture
def kdir(tmp_path: Path) -> Path:
    target = tmp_path / "knowledge"
    shutil.copytree(EXAMPLE_KNOWLEDGE_DIR, target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return target


@pytest.fixture
def kb(tmp_path: Path, kdir: Path):
    conn = connect(tmp_path / "store.db")
    base = KnowledgeBase(kdir, check_interval_s=0)
    base.migrate(conn)
    assert base.refresh(conn, force=True)
    yield base, conn
    conn.close()


# ---- the example parses


def test_example_business_parses():
    business = parse_business(EXAMPLE_KNOWLEDGE_DIR / "business.yaml")
    assert business.name == "Bella Pele Cosméticos"
    assert business.language == "pt-BR"
    assert business.timezone == "America/Sao_Paulo"
    assert business.hours["mon"] == ("09:00-18:00",)
    assert "sun" not in business.hours
    assert business.greeting and business.handoff_message and business.policies


def test_example_catalog_parses():
    products = parse_catalog(EXAMPLE_KNOWLEDGE_DIR / "catalog.csv")
    assert len(products) == 20
    assert all(p.currency == "BRL" and p.price > 0 for p in products)
    assert sum(1 for p in products if not p.in_stock) >= 2
    kit = next(p for p in products if p.sku == "BP-019")
    assert "," in kit.description  # a quoted field with commas survives


def test_example_faq_parses():
    faq = parse_faq(EXAMPLE_KNOWLEDGE_DIR / "faq.md")
    assert len(faq) == 15
    assert all(entry.question and entry.answer for entry in faq)


def test_example_services_parse():
    services, availability = parse_services(EXAMPLE_KNOWLEDGE_DIR / "services.yaml")
    assert [s.id for s in services] == ["limpeza-de-pele", "design-sobrancelhas", "massagem-relaxante"]
    assert services[0].price == Decimal("150.00")
    assert availability.capacity == 1 and availability.slot_minutes == 60 and availability.days_ahead == 14
    assert availability.weekly["sat"] == ("09:00-13:00",)


def test_whole_example_dir_parses():
    knowledge = parse_knowledge_dir(EXAMPLE_KNOWLEDGE_DIR)
    assert knowledge.business.name and knowledge.products and knowledge.faq and knowledge.services


def test_describe_formats_brazilian_prices():
    product = next(p for p in parse_catalog(EXAMPLE_KNOWLEDGE_DIR / "catalog.csv") if p.sku == "BP-001")
    assert product.describe() == "Hidratante Facial Aloe Vera — R$ 49,90 (em estoque: 25)"
    assert "in stock: 25" in product.describe("en")


# ---- malformed files: each reported with its file and line

MALFORMED_CASES = [
    ("catalog_missing_column.csv", "catalog.csv", 1, "missing column(s) price"),
    ("catalog_price_not_number.csv", "catalog.csv", 3, "not a number"),
    ("catalog_negative_stock.csv", "catalog.csv", 4, "negative"),
    ("catalog_short_row.csv", "catalog.csv", 3, "columns"),
    ("faq_answer_without_heading.md", "faq.md", 1, "without a '## question' heading"),
    ("faq_empty_heading.md", "faq.md", 6, "empty '## ' heading"),
    ("faq_question_without_answer.md", "faq.md", 4, "has no answer"),
    ("business_yaml_syntax.yaml", "business.yaml", 7, "YAML syntax error"),
    ("business_missing_greeting.yaml", "business.yaml", 1, "missing required key 'greeting'"),
    ("services_bad_span.yaml", "services.yaml", 7, "'9-12' is not a time range"),
    ("services_unknown_weekday.yaml", "services.yaml", 5, "unknown weekday 'funday'"),
    ("services_missing_capacity.yaml", "services.yaml", 1, "missing required key 'capacity'"),
]


def _expect(fixture: str, target: str, line: int, fragment: str, directory: Path) -> None:
    shutil.copy(MALFORMED / fixture, directory / target)
    with pytest.raises(KnowledgeError) as caught:
        parse_knowledge_dir(directory)
    error = caught.value
    assert (error.file, error.line) == (target, line), str(error)
    assert fragment in str(error)
    assert str(error).startswith(f"{target}:{line}: ")


def test_catalog_missing_column_reported_with_line(kdir):
    _expect(*MALFORMED_CASES[0], kdir)


def test_catalog_price_not_a_number_reported_with_line(kdir):
    _expect(*MALFORMED_CASES[1], kdir)


def test_catalog_negative_stock_reported_with_line(kdir):
    _expect(*MALFORMED_CASES[2], kdir)


def test_catalog_row_with_missing_cells_reported_with_line(kdir):
    _expect(*MALFORMED_CASES[3], kdir)


def test_faq_answer_without_heading_reported_with_line(kdir):
    _expect(*MALFORMED_CASES[4], kdir)


def test_faq_empty_heading_reported_with_line(kdir):
    _expect(*MALFORMED_CASES[5], kdir)


def test_faq_question_without_answer_reported_with_line(kdir):
    _expect(*MALFORMED_CASES[6], kdir)


def test_yaml_syntax_error_reported_with_its_line(kdir):
    _expect(*MALFORMED_CASES[7], kdir)


def test_business_missing_required_key_reported(kdir):
    _expect(*MALFORMED_CASES[8], kdir)


def test_bad_time_range_reported_with_line(kdir):
    _expect(*MALFORMED_CASES[9], kdir)


def test_unknown_weekday_reported_with_line(kdir):
    _expect(*MALFORMED_CASES[10], kdir)


def test_services_missing_required_key_reported(kdir):
    _expect(*MALFORMED_CASES[11], kdir)


def test_missing_file_reported_by_name(kdir):
    (kdir / "faq.md").unlink()
    with pytest.raises(KnowledgeError, match=r"^faq\.md: file missing"):
        parse_knowledge_dir(kdir)


# ---- search


def _names(products) -> list[str]:
    return [p.name for p in products]


def test_product_search_by_name(kb):
    base, conn = kb
    assert _names(base.search_products(conn, "protetor solar"))[:2] == [
        "Protetor Solar Corporal FPS 30",
        "Protetor Solar Facial FPS 50",
    ]


def test_product_search_by_category(kb):
    base, conn = kb
    found = base.search_products(conn, "cabelo", limit=10)
    assert {p.category for p in found} == {"Cabelo"}
    assert len(found) == 3


def test_product_search_by_partial_word(kb):
    base, conn = kb
    names = _names(base.search_products(conn, "hidrat"))
    assert "Hidratante Facial Aloe Vera" in names and "Hidratante Corporal Manteiga de Karité" in names


def test_product_search_ignores_accents_both_ways(kb):
    base, conn = kb
    assert _names(base.search_products(conn, "serum"))[0] == "Sérum Vitamina C 10%"
    assert _names(base.search_products(conn, "óleo amendoas"))[0] == "Óleo Corporal de Amêndoas"


def test_product_search_with_no_match_is_empty(kb):
    base, conn = kb
    assert base.search_products(conn, "bicicleta") == []
    assert base.search_products(conn, "?!") == []


def test_product_lookup_by_sku(kb):
    base, conn = kb
    assert base.product(conn, "bp-003").name == "Protetor Solar Facial FPS 50"
    assert base.product(conn, "nope") is None


def test_faq_search_best_match_first(kb):
    base, conn = kb
    best = base.search_faq(conn, "Vocês aceitam pix?")[0]
    assert best.question.startswith("Vocês aceitam Pix?")
    assert best.score == 1.0


def test_faq_search_scores_unrelated_questions_low(kb):
    base, conn = kb
    found = base.search_faq(conn, "qual a capital da França?")
    assert not found or found[0].score < 0.5


# ---- reload


def _touch(path: Path, text: str) -> None:
    before = path.stat().st_mtime_ns
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(before + 2_000_000_000, before + 2_000_000_000))  # a visible mtime change


def test_reload_when_a_file_changes(kb, kdir):
    base, conn = kb
    catalog = kdir / "catalog.csv"
    _touch(catalog, catalog.read_text(encoding="utf-8") + "BP-099,Esmalte Vermelho,Esmalte,12.00,BRL,3,Unhas\n")
    assert base.refresh(conn) is True
    assert _names(base.search_products(conn, "esmalte")) == ["Esmalte Vermelho"]


def test_no_reload_when_nothing_changed(kb):
    base, conn = kb
    assert base.refresh(conn) is False


def test_malformed_change_keeps_old_data_and_reports(kb, kdir):
    base, conn = kb
    _touch(kdir / "catalog.csv", (MALFORMED / "catalog_price_not_number.csv").read_text(encoding="utf-8"))
    assert base.refresh(conn) is False
    assert base.last_error is not None
    assert (base.last_error.file, base.last_error.line) == ("catalog.csv", 3)
    assert "Hidratante Facial Aloe Vera" in _names(base.search_products(conn, "hidratante"))
    # fixing the file clears the error and loads the new data
    _touch(kdir / "catalog.csv", "sku,name,description,price,currency,stock,category\nX1,Esmalte,,1,BRL,1,Unhas\n")
    assert base.refresh(conn) is True
    assert base.last_error is None
    assert base.search_products(conn, "hidratante") == []


def test_refresh_checks_files_at_most_every_interval(tmp_path, kdir):
    conn = connect(tmp_path / "store.db")
    clock = [100.0]
    base = KnowledgeBase(kdir, check_interval_s=5, monotonic=lambda: clock[0])
    base.migrate(conn)
    base.refresh(conn, force=True)
    _touch(kdir / "faq.md", "## Nova pergunta?\nNova resposta.\n")
    clock[0] += 1
    assert base.refresh(conn) is False  # inside the interval: files not even looked at
    clock[0] += 5
    assert base.refresh(conn) is True
    assert [f.question for f in base.search_faq(conn, "nova pergunta")] == ["Nova pergunta?"]


def test_product_search_returns_only_products_matching_every_term(kb):
    base, conn = kb
    assert _names(base.search_products(conn, "protetor solar facial")) == ["Protetor Solar Facial FPS 50"]


def test_product_search_falls_back_to_the_best_partial_matches(kb):
    base, conn = kb
    # "rosto" is in no product: the two sunscreens cover the other two terms, nothing else does
    assert sorted(_names(base.search_products(conn, "protetor solar rosto"))) == [
        "Protetor Solar Corporal FPS 30",
        "Protetor Solar Facial FPS 50",
    ]


def test_product_search_prefers_the_word_itself_to_words_sharing_its_stem(kb):
    base, conn = kb
    names = _names(base.search_products(conn, "hidratante"))
    assert "Hidratante Facial Aloe Vera" in names and "Hidratante Corporal Manteiga de Karité" in names
    assert "Máscara Capilar Hidratação Profunda" not in names  # "hidratação" only shares the stem
    oils = _names(base.search_products(conn, "óleo"))
    assert oils[0] == "Óleo Corporal de Amêndoas"
    assert "Hidratante Facial Aloe Vera" not in oils  # "pele oleosa" is not an oil


def test_product_search_plural_question_finds_singular_names(kb):
    base, conn = kb
    assert sorted(_names(base.search_products(conn, "protetores solares"))) == [
        "Protetor Solar Corporal FPS 30",
        "Protetor Solar Facial FPS 50",
    ]
