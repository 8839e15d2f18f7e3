"""Weekdays and opening spans as people write them: the one definition for the whole code base.

BUSINESS_HOURS (settings), business.yaml `hours`, services.yaml `availability`, the handoff's
"back at" text and booking slots all read weekdays and "HH:MM-HH:MM" spans through here, so an
operator who writes `segunda-feira: 9h-18h` in a file can write `seg-sex 9h-18h` in the variable.

Parsing is pure and raises `TimeSpecError` with a short problem text; callers add where it was
(a variable name, or file and line). Everything is normalised: weekdays to `mon`..`sun`, spans to
"HH:MM-HH:MM" (end may be "24:00"), sorted, never overlapping.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# How replies name them, by language, is in app.texts (WEEKDAYS_SHORT / WEEKDAYS_LONG).

# Accents and case are folded before lookup, and a trailing "-feira"/" feira" is dropped, so
# "Terça-Feira", "terca feira", "TER" and "ter." all land on "ter" → tue.
_ALIASES = {
    "mon": ("mon", "monday", "seg", "segunda"),
    "tue": ("tue", "tues", "tuesday", "ter", "terca"),
    "wed": ("wed", "weds", "wednesday", "qua", "quarta"),
    "thu": ("thu", "thur", "thurs", "thursday", "qui", "quinta"),
    "fri": ("fri", "friday", "sex", "sexta"),
    "sat": ("sat", "saturday", "sab", "sabado"),
    "sun": ("sun", "sunday", "dom", "domingo"),
}
_WEEKDAY_BY_NAME = {alias: day for day, aliases in _ALIASES.items() for alias in aliases}
ACCEPTED_WEEKDAYS = "mon..sun, monday..sunday, seg..dom, segunda(-feira)..domingo"

# "closed" spelled as people spell it; an empty list, null or "" mean the same.
CLOSED_WORDS = frozenset({"closed", "fechado", "fechada", "-", "none", "nenhum"})

# 9:00, 09:00, 9h, 9h30, 9H30, 09.00 is NOT accepted (a decimal, not a time).
_TIME = r"(\d{1,2})(?::(\d{2})|[hH](\d{2})?)"
_SPAN = re.compile(rf"^{_TIME}\s*(?:-|–|—|\bas\b|\bto\b|\buntil\b|\bate\b)\s*{_TIME}$")
_SPAN_SEPARATORS = re.compile(r"\s*(?:,|;|\s+e\s+|\s+and\s+)\s*")


class TimeSpecError(ValueError):
    """A weekday or span that cannot be read; the message says what is wrong and what is expected."""


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.strip().lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def weekday(name: object) -> str:
    """One weekday as written ("Monday", "seg", "terça-feira", "SÁB.") → "mon".."sun"."""
    folded = _fold(str(name)).rstrip(".").strip()
    folded = re.sub(r"[\s-]*feira$", "", folded)
    day = _WEEKDAY_BY_NAME.get(folded)
    if day is None:
        raise TimeSpecError(f"unknown weekday '{name}' (use {ACCEPTED_WEEKDAYS})")
    return day


def weekdays(text: object) -> list[str]:
    """A day, a range or a list: "mon", "mon-fri", "seg a sex", "sat, sun", "segunda-feira-sexta-feira".

    A range wraps over the weekend ("fri-mon" is fri, sat, sun, mon).
    """
    out: list[str] = []
    for chunk in re.split(r"\s*(?:,|/|&|\s+e\s+|\s+and\s+)\s*", str(text).strip()):
        if not chunk:
            raise TimeSpecError(f"empty weekday in '{text}'")
        for day in _day_range(chunk):
            if day in out:
                raise TimeSpecError(f"'{text}' names {day} twice")
            out.append(day)
    return out


def _day_range(chunk: str) -> list[str]:
    try:
        return [weekday(chunk)]
    except TimeSpecError:
        pass
    folded = _fold(chunk)
    # "seg a sex", "mon to fri", "mon..fri", or a hyphen at any position ("segunda-feira-sexta").
    candidates = [m.span() for m in re.finditer(r"\s+(?:a|to|ate)\s+|\s*\.\.\s*|\s*[-–—]\s*", folded)]
    for begin, end in candidates:
        try:
            first, last = weekday(folded[:begin]), weekday(folded[end:])
        except TimeSpecError:
            continue
        i, j = WEEKDAYS.index(first), WEEKDAYS.index(last)
        return list(WEEKDAYS[i : j + 1] if i <= j else WEEKDAYS[i:] + WEEKDAYS[: j + 1])
    raise TimeSpecError(f"unknown weekday '{chunk}' (use {ACCEPTED_WEEKDAYS}, or a range like mon-fri)")


def _minutes(hours: str, minutes: str | None, text: str) -> int:
    h, m = int(hours), int(minutes or 0)
    if m > 59 or h > 24 or (h == 24 and m):
        raise TimeSpecError(f"'{text}' is not a time of day")
    return h * 60 + m


def span(text: object) -> str:
    """One span ("09:00-18:00", "9:00 - 18:00", "9h-18h", "9h30 às 12h", "14:00-24:00") → "HH:MM-HH:MM"."""
    raw = str(text).strip()
    match = _SPAN.match(_fold(raw))
    if not match:
        raise TimeSpecError(f"'{raw}' is not a time range \"HH:MM-HH:MM\"")
    start = _minutes(match[1], match[2] or match[3], raw)
    end = _minutes(match[4], match[5] or match[6], raw)
    if start == 24 * 60:
        raise TimeSpecError(f"'{raw}': a span cannot open at 24:00")
    if end <= start:
        raise TimeSpecError(
            f"'{raw}' closes before it opens; past midnight, split it: 22:00-24:00 on one day, "
            "00:00-02:00 on the next"
        )
    return f"{_hhmm(start)}-{_hhmm(end)}"


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def span_minutes(canonical: str) -> tuple[int, int]:
    """A normalised "HH:MM-HH:MM" → (start, end) in minutes after midnight (end may be 1440)."""
    start, _, end = canonical.partition("-")
    return int(start[:2]) * 60 + int(start[3:5]), int(end[:2]) * 60 + int(end[3:5])


def is_closed(value: object) -> bool:
    """null, "", [], "closed", "fechado": the day has no opening."""
    if value is None:
        return True
    if isinstance(value, str):
        return value.strip() == "" or _fold(value) in CLOSED_WORDS
    if isinstance(value, (list, tuple)):
        return len(value) == 0 or (len(value) == 1 and is_closed(value[0]) and not isinstance(value[0], list))
    return False


def spans(values: Iterable[object] | str) -> tuple[str, ...]:
    """Several spans (a list, or one string "09:00-12:00, 14:00-18:00") → sorted, never overlapping."""
    items: list[object] = list(_SPAN_SEPARATORS.split(values.strip())) if isinstance(values, str) else list(values)
    out = sorted((span(v) for v in items if not (isinstance(v, str) and not v.strip())), key=span_minutes)
    for before, after in zip(out, out[1:], strict=False):
        if span_minutes(after)[0] < span_minutes(before)[1]:
            raise TimeSpecError(f"'{before}' and '{after}' overlap")
    return tuple(out)


def week_text(spec: str) -> dict[str, tuple[str, ...]]:
    """BUSINESS_HOURS style: "mon-fri 09:00-18:00; sat 09:00-13:00" (also "seg a sex 9h-18h; sáb 9h-13h").

    Each part is days then spans; the days end where the first time begins. "sun closed" is allowed.
    """
    week: dict[str, tuple[str, ...]] = {}
    for part in spec.split(";"):
        part = part.strip()
        if not part:
            continue
        match = re.search(r"\d", part)
        days_text, times = (part[: match.start()], part[match.start() :]) if match else (part, "")
        days_text = days_text.strip().rstrip(":").strip()
        if not times:  # "sun closed"
            words = days_text.rsplit(None, 1)
            if len(words) == 2 and _fold(words[1]) in CLOSED_WORDS:
                for day in weekdays(words[0]):
                    week.setdefault(day, ())
                continue
            raise TimeSpecError(f"'{part}' has no time range (expected e.g. 'mon-fri 09:00-18:00')")
        if not days_text:
            raise TimeSpecError(f"'{part}' names no weekday (expected e.g. 'mon-fri 09:00-18:00')")
        day_spans = spans(times)
        for day in weekdays(days_text):
            if day in week:
                raise TimeSpecError(f"{day} is given twice")
            week[day] = day_spans
    return week
