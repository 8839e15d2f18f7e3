"""LLM outage (issue 11): the real web and worker with the LLM fake hanging, answering 500,
returning malformed tool calls, then down, then back.

- every affected turn is handed to a human within LLM_TIMEOUT_S + 5 s, with a private note that
  names the failure and carries no secret (the 500's body quotes the API key on purpose);
- meanwhile the worker keeps answering the other conversations (healthy ones through the crew;
  during the full outage, what needs no model: an audio message is acknowledged);
- when the LLM returns, conversations are answered by the crew again.
"""

from __future__ import annotations

import json
import time
from urllib.parse import quote, quote_plus

import pytest

from tests.fakes.llm import FakeLLM, default_script
from tests.reliability.harness import wait_until

LLM_KEY = "sk-outage-9f8e7d6c5b4a+/="
# Small, but long enough for a healthy crew turn on a loaded 2-core CI machine.
TIMEOUT_S = 5.0
BOUND_S = TIMEOUT_S + 5.0
MARKERS = {"hang": "1111", "500": "2222", "malformed": "3333"}
HEALTHY = ("quanto custa o protetor solar facial?", "vocês fazem entrega para o Rio?", "quanto custa o hidratante facial?")


def outage_script(request: dict):
    """Per-conversation failures, chosen by a marker in the customer's text."""
    text = json.dumps(request.get("messages") or [], ensure_ascii=False)
    if "pedido 1111" in text:  # hangs far past LLM_TIMEOUT_S
        return {"json": {"intent": "support", "language": "pt-BR"}, "delay": 30.0}
    if "pedido 2222" in text:  # a provider error whose text quotes the key
        return {"status": 500, "body": {"error": {"message": f"upstream failure for key {LLM_KEY}"}}}
    if "pedido 3333" in text and request.get("tools"):  # the crew's model talks nonsense
        return {"tool_calls": [{"name": "search_faq", "arguments": "{broken json"},
                               {"name": "no_such_tool", "arguments": {"x": 1}}]}
    return default_script(request)


@pytest.fixture
def llm():
    fake = FakeLLM(script=outage_script).start()
    yield fake
    fake.stop()


def handoff_at(chatwoot, conversation_id: int) -> float | None:
    """When the handoff finished (the status set to open), or None."""
    for r in chatwoot.requests_for(conversation_id):
        if r.path.endswith("/toggle_status") and r.status == 200 and (r.json or {}).get("status") == "open":
            return r.time
    return None


def note(chatwoot, conversation_id: int) -> str:
    [text] = [m["content"] for m in chatwoot.messages(conversation_id) if m["private"]]
    return text


def public(chatwoot, conversation_id: int) -> list[str]:
    return [m["content"] for m in chatwoot.messages(conversation_id) if m["message_type"] == 1 and not m["private"]]


def test_llm_outage_hands_off_within_the_timeout_and_recovers(appliance, chatwoot, llm):
    app = appliance(LLM_MODEL="fake-model", LLM_BASE_URL=llm.base_url, LLM_API_KEY=LLM_KEY,
                    LLM_TIMEOUT_S=str(TIMEOUT_S), WORKER_CONCURRENCY="4")
    app.customer_says(700, HEALTHY[0])  # the first turn also pays for crewai's import
    app.wait_replies(700, timeout=90)

    # 1. Failures of one kind per conversation, healthy conversations in between.
    failing = {"hang": 701, "500": 702, "malformed": 703}
    sent: dict[int, float] = {}
    for kind, conversation in failing.items():
        app.customer_says(conversation, f"quero saber do meu pedido {MARKERS[kind]}")
        sent[conversation] = time.time()
    for i, text in enumerate(HEALTHY):
        app.customer_says(711 + i, text)
    wait_until(lambda: all(handoff_at(chatwoot, c) for c in failing.values()), 60, "failing turns handed off")
    wait_until(lambda: all(public(chatwoot, 711 + i) for i in range(len(HEALTHY))), 60, "healthy turns answered")
    handoff_s = {kind: handoff_at(chatwoot, c) - sent[c] for kind, c in failing.items()}
    healthy_answered = sum(1 for i in range(len(HEALTHY)) if handoff_at(chatwoot, 711 + i) is None)

    # 2. The LLM is down: text turns hand off, what needs no model is still answered.
    llm.stop()
    app.customer_says(721, "qual o preço do sérum?")
    sent[721] = time.time()
    audio = [{"id": 90, "message_id": 1, "file_type": "audio", "data_url": "https://cw.example/voz.ogg",
              "thumb_url": "", "file_size": 1000}]
    app.customer_says(722, "", attachments=audio)
    wait_until(lambda: handoff_at(chatwoot, 721) is not None, 60, "turn handed off while the LLM is down")
    handoff_s["down"] = handoff_at(chatwoot, 721) - sent[721]
    [ack] = app.wait_replies(722, timeout=30)

    # 3. The LLM returns (same address): the crew answers again.
    llm.start()
    back = time.time()
    app.customer_says(731, HEALTHY[2])
    [recovered] = app.wait_replies(731, timeout=60)
    recovery_s = time.time() - back

    notes = {kind: note(chatwoot, c) for kind, c in (*failing.items(), ("down", 721))}
    logs = app.worker.output() + (app.tmp / "logs" / "hub.log").read_text(errors="replace")
    print(
        f"\n[reliability] llm outage: LLM_TIMEOUT_S {TIMEOUT_S:.0f}; handoff seconds "
        + ", ".join(f"{k} {v:.1f}" for k, v in handoff_s.items())
        + f" (bound {BOUND_S:.0f}); healthy answered during failures {healthy_answered}/{len(HEALTHY)}; "
        f"audio acknowledged while down: {'yes' if ack else 'no'}; first crew reply {recovery_s:.1f} s after the "
        f"LLM returned; reasons: " + " | ".join(f"{k}: {v.splitlines()[1]}" for k, v in notes.items())
    )
    assert all(seconds <= BOUND_S for seconds in handoff_s.values()), handoff_s
    assert "timed out" in notes["hang"]
    assert "LLM failed" in notes["500"] and ("500" in notes["500"] or "InternalServerError" in notes["500"])
    assert "malformed tool call" in notes["malformed"]
    assert "LLM failed" in notes["down"]
    assert healthy_answered == len(HEALTHY), [note(chatwoot, 711 + i) for i in range(len(HEALTHY))
                                              if handoff_at(chatwoot, 711 + i)]
    assert "áudio" in ack["content"] or "audio" in ack["content"]
    assert "69,90" in recovered["content"] or "49,90" in recovered["content"] or "R$" in recovered["content"]
    for text in (*notes.values(), logs):
        for form in (LLM_KEY, quote(LLM_KEY, safe=""), quote_plus(LLM_KEY)):
            assert form not in text
