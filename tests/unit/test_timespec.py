"""app/timespec.py: weekdays and spans as people write them, the one definition settings,
knowledge files, business hours and booking slots share."""

from __future__ import annotations

import pytest

from app import timespec
from app.errors import ConfigError
from app.settings import Settings, parse_business_hours
from app.timespec import TimeSpecError

WRITTEN = {
    "mon": ["mon", "Mon", "MONDAY", "monday", "seg", "Seg.", "segunda", "Segunda-Feira", "segunda feira"],
    "tue": ["tue", "tues", "Tuesday", "ter", "terça", "terca", "Terça-feira", "TERCA-FEIRA"],
    "wed": ["wed", "Wednesday", "qua", "quarta", "quarta-feira", "Quarta Feira"],
    "thu": ["thu", "thurs", "Thursday", "qui", "quinta", "quinta-feira"],
    "fri": ["fri", "Friday", "sex", "sexta", "Sexta-Feira"],
    "sat": ["sat", "Saturday", "sáb", "sab", "Sábado", "sabado", "SÁB."],
    "sun": ["sun", "Sunday", "dom", "domingo", "Domingo"],
}


@pytest.mark.parametrize(("expected", "written"), [(d, w) for d, ws in WRITTEN.items() for w in ws])
def test_weekday_as_people_write_it(expected, written):
    assert timespec.weekday(written) == expected


@pytest.mark.parametrize("written", ["funday", "mo", "segundo", "feira", "", "1"])
def test_unknown_weekday_is_refused_with_the_accepted_forms(written):
    with pytest.raises(TimeSpecError, match="unknown weekday"):
        timespec.weekday(written)


@pytest.mark.parametrize(
    ("written", "days"),
    [
        ("mon-fri", ["mon", "tue", "wed", "thu", "fri"]),
        ("seg a sex", ["mon", "tue", "wed", "thu", "fri"]),
        ("segunda-feira-sexta-feira", ["mon", "tue", "wed", "thu", "fri"]),
        ("Segunda à Sexta", ["mon", "tue", "wed", "thu", "fri"]),
        ("sat, sun", ["sat", "sun"]),
        ("sábado e domingo", ["sat", "sun"]),
        ("fri-mon", ["fri", "sat", "sun", "mon"]),
        ("mon..wed", ["mon", "tue", "wed"]),
    ],
)
def test_weekday_ranges_and_lists(written, days):
    assert timespec.weekdays(written) == days


def test_a_day_named_twice_in_one_key_is_refused():
    with pytest.raises(TimeSpecError, match="twice"):
        timespec.weekdays("mon-fri, wed")


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("09:00-18:00", "09:00-18:00"),
        ("9:00-18:00", "09:00-18:00"),
        (" 09:00 - 18:00 ", "09:00-18:00"),
        ("9h-18h", "09:00-18:00"),
        ("9h30-12h", "09:30-12:00"),
        ("09:00 às 18:00", "09:00-18:00"),
        ("9:00 to 17:30", "09:00-17:30"),
        ("09:00–18:00", "09:00-18:00"),  # an en dash pasted from a word processor
        ("14:00-24:00", "14:00-24:00"),
        ("00:00-24:00", "00:00-24:00"),
    ],
)
def test_spans_as_people_write_them(written, canonical):
    assert timespec.span(written) == canonical


@pytest.mark.parametrize(
    ("written", "problem"),
    [
        ("9-18", "not a time range"),
        ("09:00", "not a time range"),
        ("25:00-26:00", "not a time of day"),
        ("09:60-10:00", "not a time of day"),
        ("18:00-09:00", "closes before it opens"),
        ("22:00-02:00", "past midnight"),
        ("24:00-24:00", "cannot open at 24:00"),
        ("manhã", "not a time range"),
    ],
)
def test_bad_spans_are_refused_with_the_reason(written, problem):
    with pytest.raises(TimeSpecError, match=problem):
        timespec.span(written)


def test_several_spans_in_one_string_are_sorted():
    assert timespec.spans("14:00-18:00, 09:00-12:00") == ("09:00-12:00", "14:00-18:00")
    assert timespec.spans("9h-12h e 14h-18h") == ("09:00-12:00", "14:00-18:00")


def test_overlapping_spans_are_refused():
    with pytest.raises(TimeSpecError, match="overlap"):
        timespec.spans(["09:00-12:00", "11:00-14:00"])


@pytest.mark.parametrize("value", [None, "", [], "closed", "Fechado", ["closed"], "-"])
def test_closed_spelled_as_people_spell_it(value):
    assert timespec.is_closed(value)


def test_span_minutes_reads_24_00_as_midnight():
    assert timespec.span_minutes("14:00-24:00") == (840, 1440)


# ---- BUSINESS_HOURS uses the same definition


def test_business_hours_variable_accepts_portuguese_and_h_forms():
    hours = parse_business_hours("seg a sex 9h-18h; sáb 9h-13h; dom fechado")
    assert hours["mon"] == hours["fri"] == ("09:00-18:00",)
    assert hours["sat"] == ("09:00-13:00",)
    assert hours["sun"] == ()


def test_business_hours_variable_keeps_the_english_form():
    hours = parse_business_hours("mon-fri 09:00-12:00, 13:00-18:00; sat 09:00-13:00")
    assert hours["wed"] == ("09:00-12:00", "13:00-18:00") and "sun" not in hours


@pytest.mark.parametrize(
    ("raw", "problem"),
    [("funday 09:00-18:00", "unknown weekday"), ("mon 9-18", "not a time range"), ("09:00-18:00", "no weekday"),
     ("mon 09:00-18:00; monday 10:00-11:00", "given twice")],
)
def test_business_hours_variable_errors_name_the_variable(raw, problem):
    with pytest.raises(ConfigError, match=f"^BUSINESS_HOURS: .*{problem}"):
        Settings.from_env({"WEBHOOK_AUTH_TOKEN": "t", "BUSINESS_HOURS": raw})


def test_one_definition_of_weekdays_in_the_code_base():
    """Settings, the knowledge records, business hours and booking slots all read timespec's."""
    from app.store import bookings, knowledge_records
    from app.worker import hours

    assert knowledge_records.WEEKDAYS is hours.WEEKDAYS is bookings.WEEKDAYS is timespec.WEEKDAYS
    import app.settings as settings_module

    assert not hasattr(settings_module, "WEEKDAYS") and not hasattr(settings_module, "_SPAN")


def test_no_module_but_timespec_spells_weekdays_or_parses_spans():
    from pathlib import Path

    import app

    root = Path(app.__file__).parent
    spellings = ('"mon", "tue"', '"seg", "ter"', '"segunda-feira"', '"Monday"', "span[:5]", "span[6:]",
                 r"\d{2}:\d{2}-")
    # How replies *name* the days is a customer-facing text: it lives in the catalogue (app/texts/).
    display_names = ('"seg", "ter"', '"segunda-feira"', '"Monday"')
    offenders = [
        f"{path.relative_to(root)}: {spelling}"
        for path in root.rglob("*.py") if path.name != "timespec.py"
        for spelling in spellings if spelling in path.read_text(encoding="utf-8")
        and not (path.parent.name == "texts" and spelling in display_names)
    ]
    assert offenders == []
