"""Business hours and the handoff text that says when people are back."""

from datetime import datetime
from zoneinfo import ZoneInfo

from app.worker.hours import handoff_text, is_open, next_opening

SP = ZoneInfo("America/Sao_Paulo")
HOURS = {"mon": ("09:00-18:00",), "tue": ("09:00-12:00", "14:00-18:00"), "sat": ("09:00-13:00",)}


def at(day, hour, minute=0):
    return datetime(2026, 11, day, hour, minute, tzinfo=SP)  # 2026-11-30 is a Monday


def test_open_inside_a_span_and_closed_at_its_end():
    assert is_open(HOURS, at(30, 9)) and is_open(HOURS, at(30, 17, 59))
    assert not is_open(HOURS, at(30, 18)) and not is_open(HOURS, at(30, 8, 59))


def test_lunch_break_is_closed():
    assert not is_open(HOURS, datetime(2026, 12, 1, 13, tzinfo=SP))


def test_no_hours_means_always_open():
    assert is_open(None, at(29, 3)) and next_opening(None, at(29, 3)) is None


def test_next_opening_later_today_tomorrow_and_after_the_weekend():
    assert next_opening(HOURS, at(30, 7)) == at(30, 9)
    assert next_opening(HOURS, at(30, 19)) == datetime(2026, 12, 1, 9, tzinfo=SP)
    assert next_opening(HOURS, datetime(2026, 12, 5, 14, tzinfo=SP)) == datetime(2026, 12, 7, 9, tzinfo=SP)


def test_handoff_text_inside_hours_is_the_message():
    assert handoff_text("Já chamo alguém.", HOURS, at(30, 10), "pt-BR") == "Já chamo alguém."


def test_handoff_text_outside_hours_says_when_people_are_back_pt():
    text = handoff_text("Já chamo alguém.", HOURS, datetime(2026, 12, 5, 14, tzinfo=SP), "pt-BR")
    assert text == ("Já chamo alguém. Nossa equipe está fora do horário de atendimento agora e volta "
                    "segunda-feira às 09:00.")


def test_handoff_text_outside_hours_english_tomorrow():
    text = handoff_text("Someone will help you.", HOURS, at(30, 20), "en")
    assert text.endswith("will be back tomorrow at 09:00.")


def test_handoff_text_later_today():
    assert "volta hoje às 14:00" in handoff_text("Oi.", HOURS, datetime(2026, 12, 1, 12, 30, tzinfo=SP), "pt-BR")


def test_span_until_midnight():
    assert is_open({"sun": ("00:00-24:00",)}, at(29, 23, 59))
