"""Chatwoot chaos (issue 11): the real web and worker against a Chatwoot fake that answers 10% 500,
5% 502, 5% 503, 10% 429 with Retry-After, 10% slowly (1–3 s), 3% after doing the work but past
the client's timeout, and 15% after doing the work with a proxy's 504 — seeded.

Every conversation gets exactly one reply, and dead letters appear only for permanent errors
(one conversation's reply is refused with a 422 on purpose, and is the only dead letter).
"""

from __future__ import annotations

import sqlite3
import time
from collections import Counter

from tests.fakes.chatwoot import Fault
from tests.fakes.chatwoot_chaos import Chaos
from tests.reliability.harness import store_quiet, wait_until

SEED = 11
CONVERSATIONS = 80
PERMANENT = 9999  # its reply gets a 422: a permanent error, the one dead letter expected
CLIENT_TIMEOUT_S = 10.0  # ChatwootClient's default read timeout in the worker
QUESTIONS = (
    "vocês aceitam pix?",
    "quanto custa o hidratante facial?",
    "qual o endereço da loja?",
    "qual o telefone de vocês?",
    "quero falar com um atendente",  # a handoff: message, private note, labels, status
)


def public_replies(chatwoot, conversation_id: int) -> list[dict]:
    return [m for m in chatwoot.messages(conversation_id) if m["message_type"] == 1 and not m["private"]]


def test_every_conversation_gets_exactly_one_reply_under_chatwoot_chaos(appliance, chatwoot):
    chaos = Chaos(SEED, late_s=CLIENT_TIMEOUT_S + 1.0)
    chatwoot.chaos = chaos
    chatwoot.fault("POST", rf"/{PERMANENT}/messages$", Fault.error(422, "Too many messages"))
    app = appliance(WORKER_CONCURRENCY="16", LOG_LEVEL="INFO")
    conversations = [3000 + i for i in range(CONVERSATIONS)] + [PERMANENT]
    for i, conversation in enumerate(conversations):
        app.customer_says(conversation, QUESTIONS[i % len(QUESTIONS)])
    sent_all = time.monotonic()

    def settled() -> bool:
        answered = all(public_replies(chatwoot, c) for c in conversations if c != PERMANENT)
        return answered and store_quiet(app)

    quiet_s = wait_until(settled, 170, f"chaos run quiet\n{app.worker.output()[-3000:]}", every=0.5)
    quiet_s = time.monotonic() - sent_all

    per_conversation = Counter(len(public_replies(chatwoot, c)) for c in conversations if c != PERMANENT)
    db = sqlite3.connect(app.tmp / "data" / "chatwootai.db")
    letters = db.execute("SELECT conversation_id, purpose, status, error FROM dead_letters").fetchall()
    db.close()
    print(
        f"\n[reliability] chatwoot chaos (seed {SEED}): {CONVERSATIONS} conversations + 1 refused (422); "
        f"replies per conversation {dict(sorted(per_conversation.items()))}; "
        f"dead letters {len(letters)} ({', '.join(f'{c}/{p}/HTTP {s}' for c, p, s, _ in letters)}); "
        f"seconds to quiet {quiet_s:.1f}; requests {sum(chaos.counts.values())} "
        f"outcomes {dict(sorted(chaos.counts.items()))}"
    )
    assert per_conversation == Counter({1: CONVERSATIONS}), per_conversation
    # The only dead letter is the permanent error; no reply was dead-lettered as "may have been posted".
    assert [(c, p, s) for c, p, s, _ in letters] == [(PERMANENT, "reply", 422)], letters
    assert public_replies(chatwoot, PERMANENT) == []
    # The mix was really applied, including the outcomes that used to duplicate replies.
    assert chaos.counts["saved_504"] > 0 and chaos.counts["saved_late"] > 0
