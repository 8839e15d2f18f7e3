"""The offline responder, pt-BR and English, against real data in a real store."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.hub.dataproxy import DataProxy
from app.hub.offline import OfflineResponder, classify_rules, parse_pick
from app.hub.types import Turn, TurnAttachment, TurnMessage
from app.settings import EXAMPLE_KNOWLEDGE_DIR
from app.store import memory
from app.store.bookings import apply_changes
from app.store.db import connect, transaction
from app.store.memory import MemoryStore, MemoryUpdate, Remembered

EN_SHOP = Path(__file__).resolve().parents[1] / "fixtures" / "knowledge" / "en_shop"
NOW = datetime(2026, 3, 10, 12, 30, tzinfo=UTC)  # Tuesday


class Chat:
    """One conversation through classify_rules → respond, committing what the decision carries
    (its memory and bookings) as the worker does with the turn."""

    def __init__(self, tmp_path: Path, knowledge: Path, conversation_id: int = 7):
        db = tmp_path / "store.db"
        self.dp = DataProxy(db, knowledge, clock=lambda: NOW)
        self.cm = MemoryStore(db)
        self.conn = connect(db)
        self.responder = OfflineResponder(self.dp)
        self.conversation_id = conversation_id
        self.n = 0

    def say(self, text: str, **turn_kw):
        self.n += 1
        ctx = self.cm.load(1, self.conversation_id)
        intent, language = classify_rules(text, ctx)
        turn = Turn(1, self.conversation_id, (TurnMessage(self.n, text, **turn_kw),), contact_name="Ana")
        decision = self.responder.respond(turn, ctx, intent=intent, language=language)
        said = (Remembered("customer", text), *([Remembered("bot", decision.text)] if decision.text else []))
        state = decision.memory.state if decision.memory is not None else None
        with transaction(self.conn):
            memory.apply(self.conn, MemoryUpdate(1, self.conversation_id, said, language=language, state=state))
            apply_changes(self.conn, decision.bookings)
        assert decision.llm_calls == 0
        return decision


@pytest.fixture
def pt(tmp_path):
    return Chat(tmp_path, EXAMPLE_KNOWLEDGE_DIR)


@pytest.fixture
def en(tmp_path):
    return Chat(tmp_path, EN_SHOP)


# ---- classification rules


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("quero falar com um atendente", "human"),
        ("posso falar com uma pessoa?", "human"),
        ("I want a human", "human"),
        ("can I talk to an agent", "human"),
        ("Quanto custa o protetor solar?", "sales"),
        ("vocês tem sérum?", "sales"),
        ("what is the price of beard oil", "sales"),
        ("quero agendar uma limpeza de pele", "scheduling"),
        ("tem horário amanhã?", "scheduling"),
        ("can I book an appointment?", "scheduling"),
        ("vocês aceitam pix?", "support"),
        ("qual o horário de funcionamento?", "support"),
        ("what is your returns policy?", "support"),
        ("oi", "other"),
    ],
)
def test_classify_rules(text, intent):
    assert classify_rules(text, None)[0] == intent


def test_classify_keeps_conversation_language_for_a_bare_number(pt):
    pt.cm.apply([MemoryUpdate(1, 7, language="en", state={"offered_slots": [{"service_id": "x",
                                                                            "start": NOW.isoformat()}]})])
    assert classify_rules("1", pt.cm.load(1, 7)) == ("scheduling", "en")


@pytest.mark.parametrize(
    ("text", "index"),
    [("2", 1), ("opção 3", 2), ("o segundo", 1), ("quero o primeiro", 0), ("the third one", 2),
     ("option 2", 1), ("o último", 2), ("às 11h", 1), ("11:00", 1), ("segunda-feira", None), ("9", None)],
)
def test_parse_pick(text, index):
    offers = [{"service_id": "s", "start": f"2026-03-10T{h}:00:00-03:00"} for h in ("10", "11", "14")]
    assert parse_pick(text, offers) == index


# ---- pt-BR


def test_pt_greeting(pt):
    decision = pt.say("oi")
    assert decision.action == "reply" and decision.text.startswith("Olá! Bem-vindo(a) à Bella Pele")


def test_pt_price_question_lists_products_with_price_and_stock(pt):
    decision = pt.say("Quanto custa o protetor solar?")
    assert decision.action == "reply" and decision.intent == "sales" and decision.language == "pt-BR"
    assert "Protetor Solar Facial FPS 50 — R$ 69,90 (em estoque: 18)" in decision.text
    assert "Protetor Solar Corporal FPS 30 — R$ 59,90 (esgotado)" in decision.text


def test_pt_faq_question(pt):
    decision = pt.say("Vocês aceitam Pix?")
    assert decision.action == "reply" and "chave Pix" in decision.text


def test_pt_service_price_question(pt):
    decision = pt.say("quanto custa a massagem?")
    assert decision.action == "reply" and "Massagem relaxante — R$ 180,00" in decision.text


def test_pt_full_booking_dialogue(pt):
    offer = pt.say("Quero agendar uma limpeza de pele")
    assert offer.action == "reply" and offer.intent == "scheduling"
    assert "1. Limpeza de pele — ter, 10/03 às 10:00" in offer.text
    assert "2. Limpeza de pele — ter, 10/03 às 11:00" in offer.text
    assert len(pt.cm.load(1, 7).state["offered_slots"]) == 5

    confirmation = pt.say("opção 2")
    assert confirmation.action == "reply"
    assert "Agendamento confirmado" in confirmation.text and "ter, 10/03 às 11:00" in confirmation.text
    booked = pt.dp.bookings_for("1:7")
    assert [(b.service_id, b.start.strftime("%H:%M"), b.customer_name) for b in booked] == [
        ("limpeza-de-pele", "11:00", "Ana")
    ]
    assert booked[0].start not in [s.start for s in pt.dp.free_slots("limpeza-de-pele", limit=10)]
    assert "offered_slots" not in pt.cm.load(1, 7).state


def test_pt_cancel_frees_the_slot(pt):
    pt.say("quero marcar uma massagem")
    pt.say("o primeiro")
    start = pt.dp.bookings_for("1:7")[0].start
    decision = pt.say("quero cancelar meu agendamento")
    assert decision.action == "reply" and decision.text.startswith("Cancelado:")
    assert pt.dp.bookings_for("1:7") == []
    assert pt.dp.free_slots("massagem-relaxante", limit=1)[0].start == start


def test_pt_pick_of_a_slot_taken_meanwhile_offers_again(pt):
    offer_state = pt.say("quero agendar limpeza de pele") and pt.cm.load(1, 7).state["offered_slots"]
    first = offer_state[0]
    pt.dp.book(first["service_id"], datetime.fromisoformat(first["start"]), conversation_key="1:99")
    decision = pt.say("1")
    assert decision.action == "reply" and "acabou de ser ocupado" in decision.text
    assert pt.dp.bookings_for("1:7") == []


def test_pt_request_for_a_person_hands_off(pt):
    decision = pt.say("quero falar com um atendente")
    assert decision.action == "handoff" and decision.reason == "customer asked for a human"
    assert decision.text.startswith("Vou chamar uma pessoa")


def test_pt_unknown_question_hands_off(pt):
    decision = pt.say("qual a capital da França?")
    assert decision.action == "handoff" and decision.reason == "offline responder found no answer"


def test_attachment_without_text_asks_for_text(pt):
    decision = pt.say("", attachments=(TurnAttachment("audio"),))
    assert decision.action == "reply" and "texto" in decision.text


# ---- English


def test_en_greeting(en):
    decision = en.say("hello")
    assert decision.text.startswith("Hello! Welcome to Corner Barber")  # the business's own greeting


def test_en_price_question(en):
    decision = en.say("How much is the beard oil?")
    assert decision.action == "reply" and decision.language == "en"
    assert "Beard Oil — GBP 12.50 (in stock: 10)" in decision.text


def test_en_faq_question(en):
    decision = en.say("What is your returns policy?")
    assert decision.action == "reply" and "returned within 14 days" in decision.text


def test_en_full_booking_dialogue(en):
    offer = en.say("Can I book a haircut?")
    # London: Tuesday 12:30 now; the next availability is Wednesday 13:00
    assert "1. Haircut — Wed 03/11 at 13:00" in offer.text and "Reply with the option number." in offer.text
    confirmation = en.say("the second one")
    assert "Your appointment is confirmed" in confirmation.text and "Wed 03/11 at 13:30" in confirmation.text
    booked = en.dp.bookings_for("1:7")
    assert [b.start.strftime("%a %H:%M") for b in booked] == ["Wed 13:30"]
    assert booked[0].start not in [s.start for s in en.dp.free_slots("haircut", limit=10)]


def test_en_request_for_a_person_hands_off(en):
    decision = en.say("Can I talk to a person please?")
    assert decision.action == "handoff" and decision.reason == "customer asked for a human"
    assert decision.language == "en" and decision.text == "A member of our team will answer you shortly."


def test_english_customer_of_a_portuguese_business_gets_english_texts(pt):
    assert pt.say("hello").text.startswith("Hi! Welcome to Bella Pele")
    assert pt.say("I want to speak to a person").text.startswith("I'm bringing in someone from our team")


def test_en_unknown_question_hands_off(en):
    decision = en.say("Who won the football match yesterday?")
    assert decision.action == "handoff" and decision.reason == "offline responder found no answer"


# ---- the business profile answers in either language


def test_english_question_about_the_portuguese_shop_hours_answered_from_the_profile(pt):
    decision = pt.say("what are your opening hours?")
    assert decision.action == "reply" and decision.language == "en"
    assert decision.text.startswith("Our hours: Mon 09:00-18:00") and "Sun closed" in decision.text


def test_english_question_about_the_address_answered_from_the_profile(pt):
    decision = pt.say("where are you located?")
    assert decision.action == "reply" and "Rua Augusta, 1500" in decision.text


def test_portuguese_hours_question_still_answered_by_the_faq(pt):
    decision = pt.say("qual o horário de funcionamento da loja?")
    assert decision.action == "reply" and "search_faq" in " ".join(decision.steps)
    assert "business_info" not in " ".join(decision.steps)


# ---- answers that fit the question (issue 7)


def test_pt_product_question_lists_only_the_matching_products(pt):
    """"protetor solar facial" used to list 5 products, 3 of them unrelated "facial" items."""
    decision = pt.say("vocês têm protetor solar facial?")
    assert decision.action == "reply"
    listed = [line for line in decision.text.splitlines() if line[:1].isdigit()]
    assert listed == ["1. Protetor Solar Facial FPS 50 — R$ 69,90 (em estoque: 18)"]


def test_pt_product_question_partly_matching_keeps_the_best_matches_only(pt):
    decision = pt.say("tem protetor solar pra praia?")
    listed = [line for line in decision.text.splitlines() if line[:1].isdigit()]
    assert len(listed) == 2 and all("Protetor Solar" in line for line in listed)


def test_pt_faq_answer_reaches_the_customer_without_the_files_line_breaks(pt):
    decision = pt.say("Vocês fazem entrega? Qual o prazo de entrega?")
    assert decision.action == "reply"
    assert "\n" not in decision.text
    assert "conforme a região. Em São Paulo capital" in decision.text


def test_pt_two_product_questions_in_one_burst_answer_both(pt):
    decision = pt.say("quanto custa o protetor solar facial?\ne o hidratante corporal?")
    listed = [line for line in decision.text.splitlines() if line[:1].isdigit()]
    assert listed == [
        "1. Protetor Solar Facial FPS 50 — R$ 69,90 (em estoque: 18)",
        "2. Hidratante Corporal Manteiga de Karité — R$ 39,90 (em estoque: 40)",
    ]
