"""Business hours: are people there now, and if not, when are they back (in BUSINESS_TIMEZONE)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from app.texts import texts_for
from app.timespec import WEEKDAYS, span_minutes

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
    texts = texts_for(language)
    at = opening.strftime("%H:%M")
    delta_days = (opening.date() - now.date()).days
    key = "back_today" if delta_days == 0 else "back_tomorrow" if delta_days == 1 else "back_on_day"
    return texts.say(key, at=at, day=texts.weekdays_long[opening.weekday()])


def handoff_text(base: str, hours: Hours | None, now: datetime, language: str) -> str:
    """The handoff message; outside business hours it says when people are back."""
    if is_open(hours, now):
        return base
    opening = next_opening(hours, now)
    if opening is None:
        return base
    back = back_at_text(opening, now, language)
    return texts_for(language).say("handoff_out_of_hours", base=base, back=back)
