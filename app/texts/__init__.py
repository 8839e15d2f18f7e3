"""Every customer-facing text, one module per language; `texts_for(tag)` picks by language tag.

Adding a language means one module here defining LANGUAGE (its primary subtag), TEXTS (every
key the default language has) and WEEKDAYS_SHORT / WEEKDAYS_LONG (Monday first). Modules are
found by listing this package, so nothing else needs to change; an incomplete module is refused
at import with the keys it lacks, never discovered mid-conversation.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

DEFAULT_LANGUAGE = "pt"


@dataclass(frozen=True)
class Texts:
    language: str  # primary subtag: "pt", "en" …
    texts: Mapping[str, str]
    weekdays_short: tuple[str, ...]
    weekdays_long: tuple[str, ...]

    def __getitem__(self, key: str) -> str:
        return self.texts[key]

    def say(self, key: str, **values: Any) -> str:
        return self.texts[key].format(**values)


_CATALOGUE: dict[str, Texts] = {}


def primary(tag: str | None) -> str:
    """"pt-BR" → "pt", "en_US" → "en", "" / None → "" (the caller then gets the default)."""
    return (tag or "").strip().lower().replace("_", "-").split("-", 1)[0]


def register(module: ModuleType) -> Texts:
    """Add one language module to the catalogue (tests register extra languages this way)."""
    language = primary(getattr(module, "LANGUAGE", ""))
    if not language:
        raise ValueError(f"text module {module.__name__} defines no LANGUAGE")
    texts = dict(module.TEXTS)
    reference = _CATALOGUE.get(DEFAULT_LANGUAGE)
    if reference is not None:
        missing = sorted(set(reference.texts) - set(texts))
        if missing:
            raise ValueError(f"text module {module.__name__} ({language}) lacks: {', '.join(missing)}")
    short, long_ = tuple(module.WEEKDAYS_SHORT), tuple(module.WEEKDAYS_LONG)
    if len(short) != 7 or len(long_) != 7:
        raise ValueError(f"text module {module.__name__} ({language}) needs seven weekday names")
    entry = Texts(language, texts, short, long_)
    _CATALOGUE[language] = entry
    return entry


def unregister(language: str) -> None:
    if primary(language) != DEFAULT_LANGUAGE:
        _CATALOGUE.pop(primary(language), None)


def languages() -> list[str]:
    return sorted(_CATALOGUE)


def texts_for(language: str | None) -> Texts:
    """The texts for a language tag; an unknown or empty tag gets pt-BR, the default."""
    return _CATALOGUE.get(primary(language)) or _CATALOGUE[DEFAULT_LANGUAGE]


def same_language(a: str | None, b: str | None) -> bool:
    """Whether two tags get the same texts ("pt-BR" and "pt", but also two unknown tags)."""
    return texts_for(a).language == texts_for(b).language


def _load() -> None:
    register(importlib.import_module(f"{__name__}.pt_br"))  # the reference for every other module
    for info in pkgutil.iter_modules(__path__):
        if info.name != "pt_br":
            register(importlib.import_module(f"{__name__}.{info.name}"))


_load()
