"""The offline responder: answers from the business data with rules, no LLM (docs/architecture.md#hub-and-crews).

Used when LLM_MODEL is unset. Deterministic and bilingual (pt-BR, English): best FAQ match,
product search with prices, the next free slots as a numbered list and booking by choice;
anything else is handed to a human with the reason. It writes nothing: the offered slots (so
"2" means something next turn) go into the decision's memory `state`, and a booking into its
`bookings`; the worker commits both with the turn, so a pick redone after a crash books once.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from app.hub.dataproxy import BookingPlan, DataProxy, Service, SlotUnavailable
from app.hub.types import Decision, Turn
from app.language import detect_language, fold, search_terms, words
from app.store.memory import Context, MemoryUpdate
from app.texts import Texts, same_language, texts_for

FAQ_THRESHOLD = 0.5  # share of the question's words an FAQ entry must cover to be "the answer"
OFFER_SIZE = 5

_HUMAN = re.compile(
    r"\b(atendente|humano|human|agent|agente|representative|operador|operator|"
    r"falar com (uma |um |a |o )?(pessoa|alguem|gente|vendedor|vendedora)|pessoa (de verdade|real)|"
    r"real person|(talk|speak) (to|with) (a |an )?(person|someone|somebody))\b"
)
_HOURS = re.compile(r"\b(funcionamento|abre|abrem|fecha|fecham|aberto|aberta|open|opening|closing)\b")
_SCHEDULING = re.compile(
    r"\b(agendar|agendamento|agenda|marcar|marcacao|horario|horarios|reservar|vaga|vagas|"
    r"disponibilidade|cancelar|desmarcar|remarcar|book|booking|appointment|schedule|reserve|slot|slots|"
    r"cancel)\b"
)
_CANCEL = re.compile(r"\b(cancelar|cancela|cancele|desmarcar|cancel)\b")
_SUPPORT_PREFIXES = (
    "entreg", "frete", "prazo", "envi", "correio", "rastre", "troca", "troc", "devol", "reembols",
    "pagament", "pagar", "pix", "cartao", "parcel", "boleto", "endereco", "localiza", "cupom",
    "descont", "atacad", "revend", "defeit", "vegan", "deliver", "shipping", "ship", "return",
    "refund", "exchang", "payment", "pay", "card", "address", "locat", "coupon", "discount", "track",
    "wholesale",
)  # fmt: skip
_SALES = re.compile(
    r"\b(preco|precos|custa|custam|valor|valores|tem|tens|vende|vendem|produto|produtos|comprar|compra|"
    r"estoque|price|prices|cost|costs|how much|sell|buy|stock|product|products|do you have)\b"
)
_GREETING = frozenset(
    "oi ola opa bom boa dia tarde noite tudo bem e ai td blz hi hello hey good morning afternoon "
    "evening there".split()
)
# Questions the business profile answers in any language, whatever the FAQ's language is.
_HOURS_WORDS = frozenset("hours open opening opens close closes closing horario horarios funcionamento abre "
                         "abrem fecha fecham aberto aberta".split())
_WHERE_WORDS = frozenset("address where located location endereco onde fica localizacao".split())
_PHONE_WORDS = frozenset("phone telephone call telefone ligar whatsapp".split())
_THANKS = frozenset("obrigado obrigada valeu brigado thanks thank you thx ok".split())
_ORDINALS = (
    (r"primeir|first", 0), (r"segund(?!a[ -]?feira)|second", 1), (r"terceir|third", 2),
    (r"quart|fourth", 3), (r"quint|fifth", 4),
)  # fmt: skip
_PICK_NUMBER = re.compile(r"(?<![\d/:])\b(\d{1,2})(?:st|nd|rd|th|o|a)?\b(?![\d/:h])")
_TIME = re.compile(r"\b(\d{1,2})(?::(\d{2})|h(\d{2})?)")


def _state(ctx: Any) -> dict[str, Any]:
    return dict(getattr(ctx, "state", None) or {})


def classify_rules(text: str, ctx: Any = None, *, default_language: str = "pt-BR") -> tuple[str, str]:
    """(intent, language) by keyword rules: human > a pick from offered slots > scheduling >
    support (FAQ topics) > sales > other. Language keeps the conversation's when unclear."""
    folded = " ".join(words(text))
    language = detect_language(text, getattr(ctx, "language", None) or default_language)
    offers = _state(ctx).get("offered_slots") or []
    if _HUMAN.search(folded):
        return "human", language
    if offers and (_CANCEL.search(folded) or parse_pick(text, offers) is not None):
        return "scheduling", language
    if _HOURS.search(folded):
        return "support", language
    if _SCHEDULING.search(folded):
        return "scheduling", language
    if any(w.startswith(_SUPPORT_PREFIXES) for w in folded.split()):
        return "support", language
    if _SALES.search(folded):
        return "sales", language
    return "other", language


def parse_pick(text: str, offers: list[dict[str, Any]]) -> int | None:
    """Which offered slot the customer chose (0-based): "2", "opção 2", "o segundo", "às 14h"."""
    if not offers:
        return None
    folded = fold(text)
    by_time = {i for i, o in enumerate(offers) if _time_mentioned(folded, o)}
    if len(by_time) == 1:
        return by_time.pop()
    if re.search(r"\b(ultim|last)", folded):
        return len(offers) - 1
    for pattern, index in _ORDINALS:
        if re.search(rf"\b({pattern})", folded) and index < len(offers):
            return index
    numbers = [int(n) for n in _PICK_NUMBER.findall(_TIME.sub(" ", folded))]
    if len(numbers) == 1 and 1 <= numbers[0] <= len(offers):
        return numbers[0] - 1
    return None


def _time_mentioned(folded: str, offer: dict[str, Any]) -> bool:
    start = datetime.fromisoformat(offer["start"])
    for hours, minutes, h_minutes in _TIME.findall(folded):
        if int(hours) == start.hour and int(minutes or h_minutes or 0) == start.minute:
            return True
    return False


class OfflineResponder:
    def __init__(self, dataproxy: DataProxy, *, default_language: str = "pt-BR"):
        self.dp = dataproxy
        self.default_language = default_language

    def respond(self, turn: Turn, ctx: Context, *, intent: str, language: str) -> Decision:
        t = texts_for(language)
        text = turn.text.strip()
        steps: list[str] = [f"offline intent={intent} language={language}"]
        plan = BookingPlan(self.dp, ctx.conversation_key)

        def reply(body: str, state: dict[str, Any] | None = None) -> Decision:
            memory = MemoryUpdate(ctx.account_id, ctx.conversation_id, state=state) if state is not None else None
            return Decision("reply", body, None, intent, language, 0, steps=tuple(steps),  # type: ignore[arg-type]
                            memory=memory, bookings=plan.changes)

        def handoff(reason: str) -> Decision:
            business = self.dp.business_info()
            # The business's own texts (greeting, handoff message) fit only customers of its language.
            message = business.handoff_message if same_language(business.language, language) else None
            message = message or t["handoff"]
            return Decision(
                "handoff", message, reason, intent, language, 0,  # type: ignore[arg-type]
                summary=ctx.transcript()[-600:] or None, steps=tuple(steps),
            )  # fmt: skip

        if not text:
            if turn.attachments:
                return reply(t["only_text"])
            return handoff("empty message")
        if intent == "human":
            return handoff("customer asked for a human")
        if intent == "scheduling":
            return self._scheduling(turn, ctx, text, t, reply, handoff, steps, plan)

        folded_words = set(words(text))
        if folded_words and folded_words <= _GREETING:
            business = self.dp.business_info()
            if business.greeting and same_language(business.language, language):
                return reply(business.greeting)
            return reply(t.say("greeting", business=business.name))
        if folded_words and folded_words <= _THANKS | _GREETING:
            return reply(t["welcome"])

        # sales asks the catalog first, everyone else the FAQ first; each falls back to the other
        order = ("products", "services", "faq") if intent == "sales" else ("faq", "business", "products", "services")
        for source in order:
            answer = getattr(self, f"_answer_{source}")(text, t, steps)
            if answer:
                return reply(answer)
        return handoff("offline responder found no answer")

    # ---- answers from data

    def _answer_faq(self, text: str, t: Texts, steps: list[str]) -> str | None:
        found = self.dp.search_faq(text, limit=1)
        steps.append(f"search_faq → {found[0].score if found else 'nothing'}")
        if found and found[0].score >= FAQ_THRESHOLD:
            return found[0].answer
        return None

    def _answer_business(self, text: str, t: Texts, steps: list[str]) -> str | None:
        """Hours, address or phone straight from business.yaml (an English question about a
        Portuguese shop finds no FAQ entry, but the profile answers it in either language)."""
        asked = set(words(text))
        business = self.dp.business_info()
        lang = t.language
        parts = []
        if asked & _HOURS_WORDS and business.hours:
            parts.append(t.say("our_hours", hours=business.describe_hours(lang)))
        if asked & _WHERE_WORDS and business.address:
            parts.append(t.say("we_are_at", address=business.address))
        if asked & _PHONE_WORDS and business.phone:
            parts.append(t.say("phone_is", phone=business.phone))
        steps.append(f"business_info → {len(parts)} part(s)")
        return "\n".join(parts) or None

    def _answer_products(self, text: str, t: Texts, steps: list[str]) -> str | None:
        found = self.dp.search_products(text, limit=5)
        steps.append(f"search_products → {len(found)}")
        if not found:
            return None
        lines = [f"{i}. {p.describe(t.language)}" for i, p in enumerate(found, start=1)]
        return "\n".join([t["products_found"], *lines, t["anything_else"]])

    def _answer_services(self, text: str, t: Texts, steps: list[str]) -> str | None:
        service = self._match_service(text)
        steps.append(f"match_service → {service.id if service else 'nothing'}")
        if service is None:
            return None
        lang = t.language
        return t.say("service_offer", service=service.describe(lang))

    def _match_service(self, text: str) -> Service | None:
        terms = set(search_terms(text))
        best, best_score = None, 0.0
        for service in self.dp.list_services():
            name_terms = search_terms(service.name) or [service.id]
            score = sum(1 for t in name_terms if t in terms) / len(name_terms)
            if score > best_score:
                best, best_score = service, score
        return best

    # ---- scheduling: offer → pick → book; cancel

    def _scheduling(self, turn: Turn, ctx: Context, text: str, t: Texts, reply, handoff, steps,
                    plan: BookingPlan) -> Decision:
        state = _state(ctx)
        offers = state.get("offered_slots") or []
        folded = " ".join(words(text))

        if _CANCEL.search(folded):
            now = self.dp.now()
            upcoming = [b for b in plan.bookings() if b.start > now]
            state.pop("offered_slots", None)
            if not upcoming:
                steps.append("cancel → no booking")
                return reply(t["no_booking"], state)
            for booking in upcoming:
                plan.cancel(booking.id)
            steps.append(f"cancel → {[b.id for b in upcoming]}")
            listed = "\n".join(b.describe(t.language) for b in upcoming)
            return reply(t.say("cancelled_list", listed=listed), state)

        pick = parse_pick(text, offers)
        if pick is not None:
            chosen = offers[pick]
            name = turn.contact_name or ctx.customer_name
            try:
                booking = plan.book(chosen["service_id"], datetime.fromisoformat(chosen["start"]), customer_name=name)
            except SlotUnavailable:
                steps.append("book → slot taken, offering again")
                sorry = t["slot_taken"]
                return self._offer(state, offers[pick].get("service_id"), t, reply, handoff, steps, sorry, plan)
            state.pop("offered_slots", None)
            # The booking gets its number when the turn commits: the reply describes it without one.
            steps.append(f"book → {booking.service_id} at {booking.start.isoformat()}")
            return reply(t.say("booked", booking=booking.describe(t.language)), state)

        service = self._match_service(text)
        return self._offer(state, service.id if service else None, t, reply, handoff, steps, None, plan)

    def _offer(self, state, service_id, t: Texts, reply, handoff, steps, prefix, plan: BookingPlan) -> Decision:
        slots = plan.free_slots(service_id, limit=OFFER_SIZE)
        steps.append(f"free_slots({service_id}) → {len(slots)}")
        if not slots:
            return handoff("no free slots to offer")
        state["offered_slots"] = [
            {"service_id": s.service_id, "start": s.start.isoformat(), "label": s.describe()} for s in slots
        ]
        lang = t.language
        lines = [f"{i}. {s.describe(lang)}" for i, s in enumerate(slots, start=1)]
        return reply("\n".join(([prefix] if prefix else []) + [t["free_times"], *lines, t["reply_with_number"]]),
                     state)
