"""Knowledge files as operators really write them (issue 7): what is unambiguous is accepted,
the rest refused with file:line. Each case starts from the bundled example and changes one file."""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from app.settings import EXAMPLE_KNOWLEDGE_DIR
from app.store.knowledge import KnowledgeError, parse_knowledge_dir

BUSINESS_HEAD = """\
name: Loja
description: uma loja
language: pt-BR
timezone: America/Sao_Paulo
handoff_message: aguarde
greeting: oi
"""
SERVICES_HEAD = """\
services:
  - {id: corte, name: Corte, duration_min: 30, price: 20}
slot_minutes: 30
capacity: 1
days_ahead: 7
"""
CATALOG_HEADER = "sku,name,description,price,currency,stock,category\n"


@pytest.fixture
def kdir(tmp_path: Path) -> Path:
    target = tmp_path / "knowledge"
    shutil.copytree(EXAMPLE_KNOWLEDGE_DIR, target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return target


def write(directory: Path, name: str, text: str, *, encoding: str = "utf-8", newline: str = "\n") -> None:
    (directory / name).write_bytes(text.replace("\n", newline).encode(encoding))


def refused(directory: Path) -> KnowledgeError:
    with pytest.raises(KnowledgeError) as caught:
        parse_knowledge_dir(directory)
    return caught.value


# ---- weekdays and spans in business.yaml / services.yaml


def test_business_yaml_with_monday_and_portuguese_weekdays_loads(kdir):
    write(kdir, "business.yaml", BUSINESS_HEAD + """\
hours:
  Monday: ["09:00-18:00"]
  terça-feira: ["09:00-18:00"]
  QUARTA: "9:00-18:00"
  qui: 9h-18h
  Sexta-Feira: ["09:00 - 12:00", "13:00 - 18:00"]
  sábado: ["09:00-13:00"]
  domingo: closed
""")
    hours = parse_knowledge_dir(kdir).business.hours
    assert hours == {
        "mon": ("09:00-18:00",), "tue": ("09:00-18:00",), "wed": ("09:00-18:00",), "thu": ("09:00-18:00",),
        "fri": ("09:00-12:00", "13:00-18:00"), "sat": ("09:00-13:00",), "sun": (),
    }  # fmt: skip


def test_services_yaml_with_a_weekday_range_key_and_24_00(kdir):
    write(kdir, "services.yaml", SERVICES_HEAD + """\
availability:
  seg-sex: ["14:00-24:00"]
  sab: []
  dom:
""")
    weekly = parse_knowledge_dir(kdir).availability.weekly
    assert weekly["mon"] == weekly["fri"] == ("14:00-24:00",)
    assert weekly["sat"] == weekly["sun"] == ()


def test_unknown_weekday_names_its_line_and_the_accepted_forms(kdir):
    write(kdir, "business.yaml", BUSINESS_HEAD + "hours:\n  mon: ['09:00-18:00']\n  mondey: ['09:00-18:00']\n")
    error = refused(kdir)
    assert error.location == "business.yaml:9"
    assert "unknown weekday 'mondey'" in error.problem and "segunda" in error.problem


def test_same_day_under_two_names_is_refused_with_both_lines(kdir):
    write(kdir, "business.yaml", BUSINESS_HEAD + "hours:\n  mon: ['09:00-18:00']\n  segunda-feira: ['10:00-11:00']\n")
    error = refused(kdir)
    assert error.location == "business.yaml:9" and "already on line 8" in error.problem


def test_unquoted_time_read_by_yaml_as_a_number_is_explained(kdir):
    # YAML 1.1 reads an unquoted 9:30 as 570 (base 60)
    write(kdir, "business.yaml", BUSINESS_HEAD + "hours:\n  mon:\n    - 9:30\n")
    error = refused(kdir)
    assert error.location == "business.yaml:9" and "in quotes" in error.problem


def test_bad_span_in_a_list_names_the_item_line(kdir):
    write(kdir, "services.yaml", SERVICES_HEAD + "availability:\n  mon:\n    - '09:00-12:00'\n    - '18:00-14:00'\n")
    error = refused(kdir)
    assert error.location == "services.yaml:9" and "closes before it opens" in error.problem


def test_overlapping_spans_of_one_day_are_refused(kdir):
    write(kdir, "services.yaml", SERVICES_HEAD + "availability:\n  mon: ['09:00-12:00', '11:00-13:00']\n")
    error = refused(kdir)
    assert error.location == "services.yaml:7" and "overlap" in error.problem


def test_yaml_with_bom_crlf_and_capitalised_keys_loads(kdir):
    text = BUSINESS_HEAD.replace("name:", "Name:").replace("timezone:", "Timezone:") + "Hours:\n  seg: ['09:00-18:00']\n"
    (kdir / "business.yaml").write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    business = parse_knowledge_dir(kdir).business
    assert business.name == "Loja" and business.hours == {"mon": ("09:00-18:00",)}


def test_yaml_tab_indentation_is_explained(kdir):
    write(kdir, "business.yaml", BUSINESS_HEAD + "hours:\n\tmon: ['09:00-18:00']\n")
    error = refused(kdir)
    assert error.file == "business.yaml" and error.line is not None and "not tabs" in error.problem


def test_services_with_brazilian_price_minutes_text_and_no_id(kdir):
    write(kdir, "services.yaml", """\
services:
  - name: Limpeza de Pele
    duration_min: 60 min
    price: "R$ 150,00"
availability:
  ter: ['10:00-12:00']
slot_minutes: "60"
capacity: 1
days_ahead: 7
""")
    service = parse_knowledge_dir(kdir).services[0]
    assert (service.id, service.duration_min, service.price, service.currency) == (
        "limpeza-de-pele", 60, Decimal("150.00"), "BRL")


# ---- catalog.csv


@pytest.mark.parametrize(
    ("cell", "price"),
    [("29.90", "29.90"), ('"29,90"', "29.90"), ('"R$ 29,90"', "29.90"), ("R$29.90", "29.90"), ("30", "30.00"),
     ('"1.234,56"', "1234.56"), ('"1,234.56"', "1234.56"), ('"R$ 1.234.567,00"', "1234567.00"), ('"29,9"', "29.90")],
)
def test_catalog_prices_as_people_write_them(kdir, cell, price):
    write(kdir, "catalog.csv", CATALOG_HEADER + f"A1,Sabonete,bom,{cell},BRL,3,Corpo\n")
    assert parse_knowledge_dir(kdir).products[0].price == Decimal(price)


@pytest.mark.parametrize(
    ("cell", "problem"),
    [('"1.234"', "ambiguous"), ('"1,234"', "ambiguous"), ("abc", "not a number"), ("-5", "not a number"),
     ('"12,3,4"', "not a number")],
)
def test_catalog_ambiguous_or_bad_prices_are_refused_with_their_line(kdir, cell, problem):
    write(kdir, "catalog.csv", CATALOG_HEADER + "A0,Ok,ok,1.00,BRL,1,X\n" + f"A1,Sabonete,bom,{cell},BRL,3,Corpo\n")
    error = refused(kdir)
    assert error.location == "catalog.csv:3" and problem in error.problem


def test_catalog_from_a_pt_br_spreadsheet_semicolons_bom_crlf_portuguese_header(kdir):
    text = (
        "Código;Nome;Descrição;Preço;Moeda;Estoque;Categoria;Fornecedor\n"
        'A1;Sabonete;"Sabonete; de glicerina";29,90;;;Corpo;ACME\n'
        "A2;Creme;Creme hidratante;R$ 1.234,50;BRL;0;Corpo;ACME\n"
    )
    (kdir / "catalog.csv").write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    first, second = parse_knowledge_dir(kdir).products
    assert (first.sku, first.description, first.price, first.currency) == (
        "A1", "Sabonete; de glicerina", Decimal("29.90"), "BRL")
    assert first.stock is None and first.in_stock and "estoque" not in first.describe()
    assert second.price == Decimal("1234.50") and not second.in_stock


def test_catalog_without_the_optional_columns_loads(kdir):
    write(kdir, "catalog.csv", "sku,name,price\nA1,Sabonete,9.90\n")
    product = parse_knowledge_dir(kdir).products[0]
    assert (product.description, product.currency, product.stock, product.category) == ("", "BRL", None, "")


def test_catalog_quoted_fields_with_commas_and_newlines_keep_line_numbers(kdir):
    write(kdir, "catalog.csv", CATALOG_HEADER + 'A1,Kit,"um kit, com\ntrês itens",9.90,BRL,1,Kits\nA2,Bad,x,?,BRL,1,X\n')
    error = refused(kdir)
    assert error.location == "catalog.csv:4"  # the row that starts on line 4, after a two-line cell


def test_catalog_unquoted_comma_is_explained(kdir):
    write(kdir, "catalog.csv", CATALOG_HEADER + "A1,Kit,um kit, com itens,9.90,BRL,1,Kits\n")
    error = refused(kdir)
    assert error.location == "catalog.csv:2" and "double quotes" in error.problem


def test_catalog_trailing_empty_cells_from_a_spreadsheet_are_fine(kdir):
    write(kdir, "catalog.csv", CATALOG_HEADER + "A1,Kit,kit,9.90,BRL,1,Kits,,,\n")
    assert parse_knowledge_dir(kdir).products[0].category == "Kits"


def test_catalog_every_bad_row_is_reported(kdir):
    write(kdir, "catalog.csv", CATALOG_HEADER + "A1,Ok,x,abc,BRL,1,X\nA2,,x,1,BRL,1,X\nA1,Dup,x,1,BRL,1,X\n")
    error = refused(kdir)
    assert [e.location for e in error.errors] == ["catalog.csv:2", "catalog.csv:3", "catalog.csv:4"]
    assert "and 2 more" in str(error)


def test_catalog_in_latin1_is_refused_at_the_line_of_the_first_bad_byte(kdir):
    write(kdir, "catalog.csv", CATALOG_HEADER + "A1,Ok,x,1,BRL,1,X\nA2,Sabão,x,1,BRL,1,X\n", encoding="latin-1")
    error = refused(kdir)
    assert error.location == "catalog.csv:3" and "UTF-8" in error.problem


def test_catalog_currency_sign_conflicting_with_the_column_is_refused(kdir):
    write(kdir, "catalog.csv", CATALOG_HEADER + 'A1,Ok,x,"R$ 10,00",USD,1,X\n')
    assert "says BRL" in refused(kdir).problem


# ---- faq.md


def test_faq_with_hash_headings_only_and_trailing_spaces(kdir):
    write(kdir, "faq.md", "# Vocês entregam?   \nSim.\n\n# Aceitam Pix? #\nAceitamos.\n")
    faq = parse_knowledge_dir(kdir).faq
    assert [(f.question, f.answer) for f in faq] == [("Vocês entregam?", "Sim."), ("Aceitam Pix?", "Aceitamos.")]


def test_faq_with_crlf_bom_and_subheadings_inside_an_answer(kdir):
    text = "# FAQ\n\nIntro text.\n\n## Prazo?  \nDepende:\n\n### Capital\n1 dia.\n"
    (kdir / "faq.md").write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    (entry,) = parse_knowledge_dir(kdir).faq
    assert entry.question == "Prazo?"
    assert entry.answer == "Depende:\n\n### Capital\n1 dia."


def test_faq_answer_hard_line_breaks_are_joined_paragraphs_and_lists_kept(kdir):
    write(kdir, "faq.md", ("""\
## Como pago?
Aceitamos Pix, cartão de crédito
em até 3x e boleto.

Formas:
- Pix, com desconto
  de 5%
- Cartão
1. primeiro passo
2. segundo passo
Endereço:{hard_break}
Rua Augusta, 1500
""").format(hard_break="  "))
    (entry,) = parse_knowledge_dir(kdir).faq
    assert entry.answer == (
        "Aceitamos Pix, cartão de crédito em até 3x e boleto.\n\n"
        "Formas:\n- Pix, com desconto de 5%\n- Cartão\n1. primeiro passo\n2. segundo passo\n"
        "Endereço:\nRua Augusta, 1500"
    )


def test_example_faq_answers_have_no_hard_line_breaks():
    for entry in parse_knowledge_dir(EXAMPLE_KNOWLEDGE_DIR).faq:
        assert "\n" not in entry.answer, entry.question


def test_faq_repeated_question_is_refused_with_both_lines(kdir):
    write(kdir, "faq.md", "## Entregam?\nSim.\n\n## entregam?\nNão.\n")
    error = refused(kdir)
    assert error.location == "faq.md:4" and "repeats line 1" in error.problem


def test_problems_in_several_files_are_all_reported(kdir):
    write(kdir, "faq.md", "texto solto\n")
    write(kdir, "business.yaml", BUSINESS_HEAD + "hours:\n  funday: ['09:00-18:00']\n")
    error = refused(kdir)
    assert [e.file for e in error.errors] == ["business.yaml", "faq.md"]


def test_faq_with_a_title_and_triple_hash_questions(kdir):
    write(kdir, "faq.md", "# Perguntas frequentes\n\nLeia abaixo.\n\n### Entregam?\nSim.\n\n### Parcelam?\nEm 3x.\n")
    assert [f.question for f in parse_knowledge_dir(kdir).faq] == ["Entregam?", "Parcelam?"]


def test_hours_written_in_one_line_like_business_hours(kdir):
    write(kdir, "business.yaml", BUSINESS_HEAD + 'hours: "seg a sex 9h-18h; sáb 9h-13h"\n')
    hours = parse_knowledge_dir(kdir).business.hours
    assert hours["mon"] == hours["fri"] == ("09:00-18:00",) and hours["sat"] == ("09:00-13:00",)
    write(kdir, "business.yaml", BUSINESS_HEAD + 'hours: "todo dia 9h-18h"\n')
    error = refused(kdir)
    assert error.location == "business.yaml:7" and "unknown weekday 'todo dia'" in error.problem
