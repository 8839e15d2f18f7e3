"""Auth and replay (issue 11): the real `chatwootai serve` over loopback HTTP, every credential
case of docs/architecture.md#http-interface, and only the accepted webhooks stored.

- A capture replayed 301 s later is a request whose timestamp is 301 s old (signature valid for
  that timestamp); one from the future is 305 s ahead, and the cases inside the window are 290 s
  either way. The margins are for time in flight: a loaded machine can take a second or more
  between signing and checking, which only ever makes a timestamp older.
- Another secret, each place a token goes (?token=, Bearer, X-Webhook-Token), a wrong or missing
  one, and rotation with two secrets (both accepted, a third refused).
- Three servers: signature and token both configured (every mechanism must pass), token only,
  signature only.
Prints one summary line with its figures.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
import time
import uuid

import httpx
import pytest

from app.chatwoot.signing import sign
from tests.support import Program, base_env, fixture_event, free_port

OLD_SECRET, NEW_SECRET, OTHER_SECRET = "whsec-old-1a2b3c", "whsec-new-4d5e6f", "whsec-other-7a8b9c"
TOKEN, WRONG_TOKEN = "tok+en/auth=replay~1", "tok+en/auth=replay~2"

_ids = itertools.count(int(time.time()) % 100_000 * 1_000 + 5_000_000_000)


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    configs = {
        "both": {"CHATWOOT_WEBHOOK_SECRET": f"{OLD_SECRET},{NEW_SECRET}", "WEBHOOK_AUTH_TOKEN": TOKEN},
        "token": {"CHATWOOT_WEBHOOK_SECRET": "", "WEBHOOK_AUTH_TOKEN": TOKEN},
        "signature": {"CHATWOOT_WEBHOOK_SECRET": f"{OLD_SECRET},{NEW_SECRET}", "WEBHOOK_AUTH_TOKEN": ""},
    }
    started = {}
    try:
        for name, env in configs.items():
            tmp = tmp_path_factory.mktemp(f"auth-{name}")
            port = free_port()
            program = Program("serve", {**base_env(tmp, WEBHOOK_PORT=str(port), LOG_LEVEL="INFO"), **env},
                              cwd=tmp, port=port)
            program.tmp = tmp
            started[name] = program.start()
        yield started
    finally:
        for program in started.values():
            program.stop()


def send(server, *, secret: str | None = NEW_SECRET, skew: int = 0, token_place: str | None = "query",
         token: str = TOKEN, drop: tuple[str, ...] = (), body: bytes | None = None, delivery: str | None = None):
    """One message_created with a new id, signed with `secret` at now + `skew`; returns (id, status)."""
    message_id = next(_ids)
    if body is None:
        payload = fixture_event("message_created_incoming")
        payload["id"] = message_id
        body = json.dumps(payload).encode()
    else:
        message_id = json.loads(body)["id"]
    headers = {"Content-Type": "application/json", "X-Chatwoot-Delivery": delivery or str(uuid.uuid4())}
    if secret is not None:
        ts = int(time.time()) + skew
        headers.update({"X-Chatwoot-Timestamp": str(ts), "X-Chatwoot-Signature": sign(secret, ts, body)})
    params = {}
    if token_place == "query":
        params["token"] = token
    elif token_place == "bearer":
        headers["Authorization"] = f"Bearer {token}"
    elif token_place == "header":
        headers["X-Webhook-Token"] = token
    for name in drop:
        headers.pop(name, None)
    r = httpx.post(f"{server.url}/webhook", content=body, headers=headers, params=params, timeout=10)
    return message_id, r, body


def stored_ids(server) -> set[int]:
    conn = sqlite3.connect(server.tmp / "data" / "chatwootai.db")
    try:
        return {row[0] for row in conn.execute("SELECT message_id FROM events")}
    finally:
        conn.close()


CASES = [
    # (server, description, send() arguments, expected status)
    ("both", "fresh, new secret, ?token=", {}, 200),
    ("both", "rotation: old secret", {"secret": OLD_SECRET}, 200),
    ("both", "another secret", {"secret": OTHER_SECRET}, 401),
    ("both", "replayed 301 s later", {"skew": -301}, 401),
    ("both", "timestamp 305 s in the future", {"skew": 305}, 401),
    ("both", "290 s old, inside the window", {"skew": -290}, 200),
    ("both", "290 s ahead, inside the window", {"skew": 290}, 200),
    ("both", "token as Bearer", {"token_place": "bearer"}, 200),
    ("both", "token as X-Webhook-Token", {"token_place": "header"}, 200),
    ("both", "wrong token in ?token=", {"token": WRONG_TOKEN}, 401),
    ("both", "wrong token as Bearer", {"token_place": "bearer", "token": WRONG_TOKEN}, 401),
    ("both", "wrong token as X-Webhook-Token", {"token_place": "header", "token": WRONG_TOKEN}, 401),
    ("both", "no token: signature alone", {"token_place": None}, 401),
    ("both", "no signature: token alone", {"secret": None}, 401),
    ("both", "signature without its timestamp", {"drop": ("X-Chatwoot-Timestamp",)}, 401),
    ("token", "token in ?token=", {"secret": None}, 200),
    ("token", "token as Bearer", {"secret": None, "token_place": "bearer"}, 200),
    ("token", "token as X-Webhook-Token", {"secret": None, "token_place": "header"}, 200),
    ("token", "wrong token", {"secret": None, "token": WRONG_TOKEN}, 401),
    ("token", "no token", {"secret": None, "token_place": None}, 401),
    ("signature", "rotation: new secret", {"token_place": None}, 200),
    ("signature", "rotation: old secret", {"secret": OLD_SECRET, "token_place": None}, 200),
    ("signature", "a third secret", {"secret": OTHER_SECRET, "token_place": None}, 401),
    ("signature", "replayed 301 s later", {"skew": -301, "token_place": None}, 401),
    ("signature", "305 s in the future", {"skew": 305, "token_place": None}, 401),
    ("signature", "no signature", {"secret": None, "token_place": None}, 401),
]


def test_auth_and_replay_statuses_as_specified_and_only_accepted_stored(servers):
    accepted: dict[str, set[int]] = {name: set() for name in servers}
    refused: dict[str, set[int]] = {name: set() for name in servers}
    wrong = []
    for name, description, kwargs, expected in CASES:
        message_id, r, _ = send(servers[name], **kwargs)
        if r.status_code != expected:
            wrong.append(f"{name}: {description}: {r.status_code} {r.text} (expected {expected})")
        if r.status_code == 401:
            assert r.json() == {"error": "unauthorized"}  # generic, nothing echoed
        (accepted if r.status_code == 200 else refused)[name].add(message_id)

    # An accepted request captured and replayed inside the window: same delivery, same bytes.
    delivery = str(uuid.uuid4())
    message_id, first, body = send(servers["both"], delivery=delivery)
    _, again, _ = send(servers["both"], delivery=delivery, body=body)
    assert (first.json(), again.json()) == ({"status": "queued"}, {"status": "duplicate"})
    accepted["both"].add(message_id)
    # The same capture replayed 301 s later: refused even though its bytes were once accepted.
    _, late, _ = send(servers["both"], delivery=delivery, body=body, skew=-301)
    assert late.status_code == 401

    assert not wrong, "\n".join(wrong)
    stored = {name: stored_ids(server) for name, server in servers.items()}
    for name in servers:
        assert stored[name] == accepted[name], f"{name}: stored {stored[name]} != accepted {accepted[name]}"
    for server in servers.values():
        for secret in (OLD_SECRET, NEW_SECRET, OTHER_SECRET, TOKEN, WRONG_TOKEN):
            assert secret not in server.output()
    requests = len(CASES) + 3
    n_accepted = sum(len(v) for v in accepted.values())
    print(f"\n[reliability] auth and replay: requests {requests}, accepted {n_accepted} (1 replay answered "
          f"duplicate), refused {sum(len(v) for v in refused.values()) + 1} (all 401), "
          f"stored {sum(len(v) for v in stored.values())}, stored but not accepted 0, cases {len(CASES) + 2}")
