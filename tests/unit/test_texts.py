"""The text catalogue: every language module is complete, and adding one is one file."""

from __future__ import annotations

import importlib.util
import shutil
import string
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from zoneinfo import ZoneInfo

import pytest

import app.texts as catalogue
from app.hub.dataproxy import DataProxy
from app.hub.offline import OfflineResponder
from app.hub.tools import ToolBox
from app.hub.types import Turn, TurnMessage
from app.settings import EXAMPLE_KNOWLEDGE_DIR
from app.store.bookings import when
from app.store.memory import MemoryStore
from app.texts import languages, same_language, texts_for
from app.worker.hours import handoff_text

SPANISH = Path(__file__).resolve().parents[1] / "fixtures" / "texts" / "es.py"
NOW = datetime(2026, 3, 10, 12, 30, tzinfo=UTC)  # Tuesday


def _load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def spanish():
    catalogue.register(_load(SPANISH, "texts_es_fixture"))
    yield texts_for("es")
    catalogue.unregister("es")


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_language_module_defines_every_key_with_the_same_placeholders():
    reference = texts_for("pt-BR")
    assert {"pt", "en"} <= set(languages())
    for language in languages():
        texts = texts_for(language)
        assert set(texts.texts) == set(reference.texts), language
        for key, text in reference.texts.items():
            assert _fields(texts[key]) == _fields(text), (language, key)
        assert len(texts.weekdays_short) == len(texts.weekdays_long) == 7


def test_language_tags_choose_by_primary_subtag_with_pt_br_the_default():
    assert texts_for("en-US").language == texts_for("EN_gb").language == "en"
    assert texts_for("pt-BR").language == texts_for("pt").language == "pt"
    for unknown in ("", None, "de-DE", "klingon"):
        assert texts_for(unknown).language == "pt"
    assert same_language("pt-BR", "pt") and not same_language("en", "pt-BR")


def test_an_incomplete_language_module_is_refused_with_the_missing_keys():
    partial = ModuleType("texts_partial")
    partial.LANGUAGE = "it"
    partial.TEXTS = {"handoff": "Chiamo una persona del nostro team."}
    partial.WEEKDAYS_SHORT = partial.WEEKDAYS_LONG = ("x",) * 7
    with pytest.raises(ValueError, match="lacks: .*anything_else"):
        catalogue.register(partial)
    assert "it" not in languages()


def test_adding_spanish_is_one_file(spanish, tmp_path):
    """A test-only module registered from tests/fixtures/texts/es.py is all it takes for the
    worker's out-of-hours handoff, the store's slot names and the offline responder to speak it."""
    assert "es" in languages()
    # worker: the handoff outside business hours
    sao_paulo = ZoneInfo("America/Sao_Paulo")
    late = datetime(2026, 3, 10, 22, 0, tzinfo=sao_paulo)  # Tuesday night
    text = handoff_text(spanish["handoff"], {"wed": ["09:00-18:00"]}, late, "es-MX")
    assert text == (
        "Voy a llamar a una persona de nuestro equipo para ayudarte. Un momento, por favor. "
        "Nuestro equipo está fuera de horario ahora y vuelve mañana a las 09:00."
    )
    # store: how a slot is named
    assert when(datetime(2026, 3, 13, 10, 0, tzinfo=sao_paulo), "es") == "vie 13/03 a las 10:00"
    # hub: the offline responder greets and offers slots in Spanish
    db = tmp_path / "store.db"
    responder = OfflineResponder(DataProxy(db, EXAMPLE_KNOWLEDGE_DIR, clock=lambda: NOW))
    memory = MemoryStore(db)

    def say(text: str, intent: str):
        ctx = memory.load(1, 7)
        turn = Turn(1, 7, (TurnMessage(1, text),), contact_name="Ana")
        return responder.respond(turn, ctx, intent=intent, language="es")

    assert say("hi", "other").text.startswith("¡Hola! Bienvenido(a) a ")
    offer = say("limpieza de pele", "scheduling").text.splitlines()
    assert offer[0] == "Estos son los próximos horarios libres:"
    assert offer[-1] == "Responde con el número de la opción."
    assert any(day in offer[1] for day in spanish.weekdays_short)
    assert say("quiero un humano", "human").text == spanish["handoff"]  # the shop has only a pt-BR one
    # hub: what the LLM's tools say back
    tools = ToolBox(responder.dp, conversation_key="1:7", language="es", timezone="America/Sao_Paulo")
    assert tools.search_products("zzzqqq xyzzy") == "Ningún producto encontrado."
    assert tools.cancel_booking(999) == "Reserva 999 no encontrada."


def test_one_default_handoff_text_for_worker_and_offline_responder(tmp_path):
    """The offline responder's handoff (when the business has none for this language) and the
    worker's default are the same catalogue text."""
    db = tmp_path / "store.db"
    responder = OfflineResponder(DataProxy(db, EXAMPLE_KNOWLEDGE_DIR, clock=lambda: NOW))
    ctx = MemoryStore(db).load(1, 8)
    turn = Turn(1, 8, (TurnMessage(1, "I want a human"),))
    decision = responder.respond(turn, ctx, intent="human", language="en")
    assert decision.action == "handoff" and decision.text == texts_for("en")["handoff"]


def test_a_module_dropped_into_the_package_is_found_without_any_other_change(tmp_path, monkeypatch):
    """The catalogue lists its package: es.py placed beside pt_br.py and en.py is picked up."""
    shutil.copy(SPANISH, tmp_path / "es.py")
    monkeypatch.setattr(catalogue, "__path__", [*catalogue.__path__, str(tmp_path)])
    try:
        catalogue._load()
        assert "es" in languages() and texts_for("es-AR")["welcome"] == "¡De nada! ¿Algo más?"
    finally:
        catalogue.unregister("es")
        sys.modules.pop("app.texts.es", None)
    assert texts_for("es")["welcome"] == texts_for("pt-BR")["welcome"]  # unknown again: the default
