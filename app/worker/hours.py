"""Business hours: are people there now, and if not, when are they back (in BUSINESS_TIMEZONE)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from app.timespec import LONG_NAMES, WEEKDAYS, span_minutes

Hours = Mapping[str, Sequence[str]]


def _spans(hours: Hours, day: datetime) -> list[tuple[datetime, datetime]]:
    out = []
    midnight = day.replace(hour=0, minute=0, second=0, microsecond=0)
    for span in hours.get(WEEKDAYS[day.weekday()], ()):
        start, end = span_minutes(span)  # spans are normalised by app.timespec ("24:00" may end one)
        out.append((midnight + timedelta(minutes=start), midnight + timedelta(minutes=end)))
    return out


def is_open(hours: Hours | None, now: datetime) -> bool:
    """`now` must be aware and in the business time zone. No hours configured: always open."""
    if not hours:
        return True
    return any(opens <= now < closes for opens, closes in _spans(hours, now))


def next_opening(hours: Hours | None, now: datetime) -> datetime | None:
    if not hours:
        return None
    for days in range(0, 8):
        day = now + timedelta(days=days)
        for opens, _ in sorted(_spans(hours, day)):
            if opens > now:
                return opens
    return None


def back_at_text(opening: datetime, now: datetime, language: str) -> str:
    """'hoje às 14:00' / 'amanhã às 09:00' / 'segunda-feira às 09:00' (or the English forms)."""
    lang = "en" if language.lower().startswith("en") else "pt"
    at = opening.strftime("%H:%M")
    delta_days = (opening.date() - now.date()).days
    day = LONG_NAMES[lang][opening.weekday()]
    if lang == "en":
        when = "today" if delta_days == 0 else "tomorrow" if delta_days == 1 else f"on {day}"
        return f"{when} at {at}"
    when = "hoje" if delta_days == 0 else "amanhã" if delta_days == 1 else day
    return f"{when} às {at}"


def handoff_text(base: str, hours: Hours | None, now: datetime, language: str) -> str:
    """The handoff message; outside business hours it says when people are back."""
    if is_open(hours, now):
        return base
    opening = next_opening(hours, now)
    if opening is None:
        return base
    back = back_at_text(opening, now, language)
    if language.lower().startswith("en"):
        return f"{base} Our team is out of office right now and will be back {back}."
    return f"{base} Nossa equipe está fora do horário de atendimento agora e volta {back}."
