"""The fake LLM's default script (`tests/fakes/llm.py`): a keyword stand-in for a model.

`default_script(request) -> spec` classifies when a JSON answer is asked for, calls the most
relevant tool when tools are offered and no tool result is in the conversation yet (booking a
slot it was shown when the customer asked to), and otherwise answers with text that quotes the
last tool result or the data prefetched into the prompt. Also the helpers that read a request:
`message_text`, `customer_words`, `classify_keywords`.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.fakes.llm import Spec

CUSTOMER_MARK = re.compile(r"<customer>(.*?)</customer>", re.S)

# Keyword lists for the default script; the same words a human would route by.
INTENT_WORDS: dict[str, tuple[str, ...]] = {
    "human": ("atendente", "humano", "pessoa", "human", "agent", "person", "gerente", "manager"),
    "scheduling": (
        "agendar", "agenda", "marcar", "reserv", "horário", "horario", "cancelar", "remarcar", "horários disponíveis",
        "book", "appointment", "schedule", "slot", "cancel", "amanhã", "tomorrow", "disponív",
    ),
    "support": (
        "entrega", "frete", "devolu", "troca", "trocar", "pagamento", "pix", "endereço", "onde fica",
        "funcionamento", "deliver", "return", "refund", "payment", "address", "store", "opening hours",
        "problema", "problem", "defeito",
    ),
    "sales": (
        "preço", "preco", "quanto custa", "comprar", "produto", "estoque", "vende", "price", "buy",
        "how much", "cost", "stock", "product", "sell", "hidratante", "protetor", "sérum", "serum",
        "sabonete", "kit", "sunscreen", "moisturizer", "cleanser", "creme", "cream",
    ),
}
PT_WORDS = ("você", "voce", "olá", "ola", "oi", "quero", "obrigad", "qual", "quanto", "não", "vocês",
            "tem ", "para", "amanhã", "bom dia", "boa tarde", "preciso", "gostaria", "queria")


def classify_keywords(text: str) -> tuple[str, str]:
    """(intent, language) by keywords: the default script's stand-in for a model."""
    lowered = f" {text.lower()} "
    language = "pt-BR" if any(w in lowered for w in PT_WORDS) else "en"
    if any(w in lowered for w in ("funcionamento", "opening hours", "abre", "fecha")):
        return "support", language  # "horário de funcionamento" is about the shop, not a booking
    for intent in ("human", "scheduling", "support", "sales"):
        if any(w in lowered for w in INTENT_WORDS[intent]):
            return intent, language
    return "other", language


def message_text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):  # multimodal parts
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return str(content or "")


def customer_words(request: dict[str, Any]) -> str:
    """The customer's words: inside <customer> marks when the prompt has them, else the last user text."""
    messages = request.get("messages") or []
    for message in reversed(messages):
        found = CUSTOMER_MARK.findall(message_text(message))
        if found:
            return found[-1].strip()
    for message in reversed(messages):
        if message.get("role") == "user":
            return message_text(message).strip()
    return ""


def _tool_names(request: dict[str, Any]) -> list[str]:
    return [t.get("function", {}).get("name", "") for t in request.get("tools") or []]


def _pick_tool(names: list[str], words: str) -> str:
    intent, _ = classify_keywords(words)
    lowered = words.lower()
    wants_booking = _wants_booking(lowered)
    if "cancel" in lowered and "cancel_booking" in names:
        return "cancel_booking"
    preference = {
        "sales": ["search_products", "product_detail"],
        "scheduling": (["book_slot"] if wants_booking else []) + ["free_slots", "list_services"],
        "support": ["search_faq", "business_info"],
        "other": ["search_faq", "business_info"],
        "human": ["search_faq"],
    }[intent]
    for name in preference + ["delegate_work_to_coworker", "search_faq", "search_products", "free_slots"]:
        if name in names:
            return name
    return names[0]


def _tool_arguments(request: dict[str, Any], name: str, words: str) -> dict[str, Any]:
    """Fill the tool's required string fields with the customer's words: crude, like a small model."""
    for tool in request.get("tools") or []:
        function = tool.get("function", {})
        if function.get("name") != name:
            continue
        props = (function.get("parameters") or {}).get("properties") or {}
        args: dict[str, Any] = {}
        for key, schema in props.items():
            kind = schema.get("type") or next(
                (o.get("type") for o in schema.get("anyOf", []) if o.get("type") != "null"), "string"
            )
            nullable = any(o.get("type") == "null" for o in schema.get("anyOf", []))
            if nullable and key not in ("query", "task", "question", "context"):
                args[key] = None
            elif key in ("task", "question"):
                # A delegating manager passes the customer's question on, marked as such.
                args[key] = f"Answer the customer: <customer>{words}</customer>"
            elif key in ("query", "context", "sku"):
                args[key] = words
            elif key == "booking_id":
                found = re.search(r"#(\d+)", json.dumps(request.get("messages") or [], ensure_ascii=False))
                args[key] = int(found.group(1)) if found else 1
            elif key == "coworker":
                args[key] = _pick_coworker(function.get("description", ""), words)
            elif kind == "string" and key in (function.get("parameters") or {}).get("required", []):
                args[key] = words
        return args
    return {}


def _pick_coworker(description: str, words: str) -> str:
    """The hierarchical manager's delegate tool lists coworkers by role in its description."""
    intent, _ = classify_keywords(words)
    roles = re.findall(r"([A-Z][\w ]*?(?:Specialist|Agent|Assistant))", description)
    wanted = {"sales": "sales", "scheduling": "schedul", "support": "support"}.get(intent, "support")
    for role in roles:
        if wanted in role.lower():
            return role
    return roles[0] if roles else "Support Specialist"


def default_script(request: dict[str, Any]) -> Spec:
    messages = request.get("messages") or []
    words = customer_words(request)
    response_format = request.get("response_format")
    if response_format and response_format.get("type") in ("json_schema", "json_object"):
        intent, language = classify_keywords(words)
        return {"json": {"intent": intent, "language": language}}
    tool_results = [m for m in messages if m.get("role") == "tool"]
    last_is_tool = bool(messages) and messages[-1].get("role") == "tool"
    names = _tool_names(request)
    slot = _offered_slot(request)
    booked = any(c.get("function", {}).get("name") == "book_slot"
                 for m in messages for c in m.get("tool_calls") or [])
    if "book_slot" in names and _wants_booking(words) and not booked:
        if slot:  # a model that sees a free slot books it when the customer asked to
            return {"tool_calls": [{"name": "book_slot", "arguments": {
                "service_id": slot[0], "start": slot[1], "customer_name": None}}]}
        if not tool_results:  # it must look the slots up first
            return {"tool_calls": [{"name": "free_slots", "arguments": {"service_id": None, "after": None}}]}
    if names and not last_is_tool and not _answerable_from_prompt(request, words, tool_results):
        name = _pick_tool(names, words)
        return {"tool_calls": [{"name": name, "arguments": _tool_arguments(request, name, words)}]}
    source = message_text(tool_results[-1]) if tool_results else _prompt_data(request)
    return f"Resposta: {source.strip()[:600]}" if source.strip() else "Resposta: como posso ajudar?"


def _wants_booking(words: str) -> bool:
    lowered = f" {words.lower()} "
    return any(w in lowered for w in (" às ", " as 9", " as 1", "confirm", "book the", "pode ser", "reserve"))


def _offered_slot(request: dict[str, Any]) -> tuple[str, str] | None:
    """The first slot a free_slots listing showed (in the prompt or in a tool result)."""
    for message in request.get("messages") or []:
        found = re.search(r"service_id=([\w-]+), start=([\d\-T:+.]+)", message_text(message))
        if found:
            return found.group(1), found.group(2)
    return None


def _prompt_data(request: dict[str, Any]) -> str:
    """Text the caller prefetched into the prompt between <data> marks, if any."""
    for message in request.get("messages") or []:
        found = re.findall(r"<data>(.*?)</data>", message_text(message), re.S)
        if found and found[-1].strip():
            return found[-1]
    return ""


def _answerable_from_prompt(request: dict[str, Any], words: str, tool_results: list[Any]) -> bool:
    """A model given the facts in its prompt answers without a tool, unless it must act (book)."""
    if tool_results:
        return True
    if not _prompt_data(request):
        return False
    return not _needs_action(words)


def _needs_action(words: str) -> bool:
    return _wants_booking(words) or "cancel" in words.lower()
