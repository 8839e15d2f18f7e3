"""The web program for real: `chatwootai serve` on a free port, real HTTP, real SQLite."""

import asyncio
import json
import re
import socket
import sqlite3
import time
import uuid

import httpx
import pytest

from tests.support import SECRET, TOKEN, Program, base_env, fixture_event, free_port, signed_headers


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("web")
    port = free_port()
    program = Program("serve", base_env(tmp, WEBHOOK_PORT=str(port), WEBHOOK_MAX_BODY_BYTES="65536"),
                      cwd=tmp, port=port).start()
    program.tmp = tmp
    yield program
    program.stop()


def post(web, payload, *, token=TOKEN, headers=None, raw=None, delivery=None):
    body = raw if raw is not None else json.dumps(payload).encode()
    h = signed_headers(body, delivery=delivery or str(uuid.uuid4()))
    h.update(headers or {})
    params = {"token": token} if token else {}
    return httpx.post(f"{web.url}/webhook", content=body, headers=h, params=params, timeout=10)


def new_message(message_id=None, **changes):
    payload = fixture_event("message_created_incoming")
    payload["id"] = message_id or int(time.time() * 1e6) % 2_000_000_000
    payload.update(changes)
    return payload


def stored(web, **where):
    conn = sqlite3.connect(web.tmp / "data" / "chatwootai.db")
    clause = " AND ".join(f"{k} = ?" for k in where)
    rows = conn.execute(f"SELECT kind, answerable, reason FROM events WHERE {clause}", tuple(where.values())).fetchall()
    conn.close()
    return rows


def test_health(web):
    r = httpx.get(f"{web.url}/health")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


def test_ready_reports_every_check_and_is_503_without_a_worker(web):
    r = httpx.get(f"{web.url}/ready")
    body = r.json()
    assert set(body["checks"]) == {"inbox", "worker", "chatwoot", "llm", "tunnel", "knowledge"}
    assert body["checks"]["inbox"] == "ok" and body["checks"]["tunnel"] == {"public_url": None}
    # Only the web program runs here: nobody drains the inbox, so the appliance is not ready.
    assert r.status_code == 503 and body["ready"] is False
    assert body["checks"]["worker"].startswith("no heartbeat")


def test_body_over_the_limit_is_413(web):
    payload = new_message(content="x" * 70_000)
    r = post(web, payload)
    assert r.status_code == 413 and r.json() == {"error": "body too large"}


def test_metrics_count_results(web):
    post(web, new_message(), token="bad-token-0")
    assert post(web, new_message()).json() == {"status": "queued"}
    text = httpx.get(f"{web.url}/metrics").text
    assert 'chatwootai_webhooks_total{result="unauthorized"}' in text
    queued = [line for line in text.splitlines() if line.startswith('chatwootai_webhooks_total{result="queued"}')]
    assert float(queued[0].split()[-1]) >= 1
    assert "chatwootai_inbox_depth" in text


def test_secrets_never_logged(web):
    post(web, new_message(), token="wrong-token-x")
    post(web, new_message())
    log = (web.tmp / "logs" / "webhook.log").read_text()
    out = web.output()
    for secret in (SECRET, TOKEN):
        assert secret not in log and secret not in out
    assert "webhook queued" in log and "webhook rejected 401" in log


def test_message_text_not_logged_at_info(web):
    post(web, new_message(content="meu CPF é 123.456.789-00"))
    assert "123.456.789-00" not in (web.tmp / "logs" / "webhook.log").read_text()


def test_storage_failure_is_500_and_the_next_event_is_stored(web):
    # A real SQLite failure on insert (as a full disk would cause), not a mocked writer.
    conn = sqlite3.connect(web.tmp / "data" / "chatwootai.db")
    conn.execute("CREATE TRIGGER fail_insert BEFORE INSERT ON events BEGIN SELECT RAISE(ABORT, 'disk full'); END")
    conn.commit()
    try:
        payload = new_message()
        r = post(web, payload)
        assert r.status_code == 500 and r.json() == {"error": "event could not be stored"}
    finally:
        conn.execute("DROP TRIGGER fail_insert")
        conn.commit()
        conn.close()
    # Chatwoot retries a 500: the redelivery is stored, and nothing was half-written before.
    assert post(web, payload).json() == {"status": "queued"}
    assert len(stored(web, message_id=payload["id"])) == 1


# -- issue 7: the door answers 4xx to every bad input, and one bad event never harms another -----


def raw_exchange(web, request: bytes, sock=None) -> tuple[int, bytes, socket.socket]:
    """Send bytes on a (kept-alive) socket and read one HTTP response: (status, body, socket)."""
    sock = sock or socket.create_connection(("127.0.0.1", web.port), timeout=30)
    sock.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before a response: {data!r}"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
    while len(rest) < length:
        rest += sock.recv(65536)
    return int(head.split(b" ", 2)[1]), rest[:length], sock


def raw_webhook(web, payload: dict, *, headers: dict[str, bytes | str] | None = None, query_token=TOKEN) -> bytes:
    body = json.dumps(payload).encode()
    h = {**signed_headers(body, delivery=str(uuid.uuid4())), **(headers or {})}
    target = f"/webhook?token={query_token}" if query_token else "/webhook"
    lines = [f"POST {target} HTTP/1.1".encode(), b"Host: x", f"Content-Length: {len(body)}".encode()]
    lines += [k.encode() + b": " + (v if isinstance(v, bytes) else v.encode()) for k, v in h.items()]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


@pytest.mark.parametrize(
    "mutate, field",
    [
        (lambda p: p.update(id="²"), "'id'"),
        (lambda p: p.update(id="١٢٣"), "'id'"),
        (lambda p: p.update(id=2**63), "'id'"),
        (lambda p: p["account"].update(id=-1), "'account.id'"),
        (lambda p: p["inbox"].update(id=2**64), "'inbox.id'"),
        (lambda p: p["conversation"].update(id=True), "'conversation.id'"),
        (lambda p: p["sender"].update(id=1.5), "'sender.id'"),
        (lambda p: p["conversation"].update(labels=5), "'conversation.labels'"),
        (lambda p: p["conversation"].update(labels=True), "'conversation.labels'"),
        (lambda p: p.update(message_type=False), "'message_type'"),
        (lambda p: p.update(private="false"), "'private'"),
    ],
    ids=["superscript-2", "arabic-indic", "2**63", "negative", "2**64", "bool", "float", "labels-5",
         "labels-true", "message_type-false", "private-string"],
)
def test_wrongly_typed_field_gets_400_naming_it_and_nothing_is_stored(web, mutate, field):
    payload = new_message()
    mutate(payload)
    r = post(web, payload)
    assert r.status_code == 400, r.text
    assert field in r.json()["error"]
    if isinstance(payload["id"], int) and payload["id"] < 2**63:
        assert stored(web, message_id=payload["id"]) == []


def test_changed_attributes_of_the_wrong_type_gets_400(web):
    payload = fixture_event("conversation_status_changed")
    for value in (5, 1.5, True):
        payload["changed_attributes"] = value
        r = post(web, payload)
        assert r.status_code == 400 and "'changed_attributes'" in r.json()["error"]


def test_non_ascii_byte_in_signature_header_is_401_without_a_traceback(web):
    for value in (b"sha256=\xff\xfe", b"sha256=" + "é".encode() * 32, b"\x80"):
        status, body, sock = raw_exchange(web, raw_webhook(web, new_message(),
                                                           headers={"X-Chatwoot-Signature": value}))
        sock.close()
        assert (status, json.loads(body)) == (401, {"error": "unauthorized"})
    for header, value in (("X-Chatwoot-Timestamp", b"\xff1\xc3"), ("X-Webhook-Token", b"\xff1\xc3"),
                          ("Authorization", b"Bearer \xff1\xc3")):
        status, _, sock = raw_exchange(web, raw_webhook(web, new_message(), headers={header: value},
                                                        query_token=None if header != "X-Chatwoot-Timestamp" else TOKEN))
        sock.close()
        assert status == 401, header
    assert "Traceback" not in web.output() and "UnicodeEncodeError" not in web.output()


def test_non_ascii_query_token_is_401(web):
    body = json.dumps(new_message()).encode()
    r = httpx.post(f"{web.url}/webhook?token=tok%FF%C3", content=body, headers=signed_headers(body))
    assert r.status_code == 401


@pytest.mark.parametrize("size_mb", [6, 12])
def test_body_of_many_megabytes_gets_413_not_a_reset_and_the_connection_stays_usable(web, size_mb):
    body = b'{"event":"message_created","content":"' + b"x" * (size_mb * 1024 * 1024) + b'"}'
    head = (f"POST /webhook?token={TOKEN} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    status, answer, sock = raw_exchange(web, head + body)  # sendall of the whole body: no reset
    assert (status, json.loads(answer)) == (413, {"error": "body too large"})
    payload = new_message()
    status, answer, sock = raw_exchange(web, raw_webhook(web, payload), sock)  # same connection
    sock.close()
    assert (status, json.loads(answer)) == (200, {"status": "queued"})
    # And the way Chatwoot's HTTP client does it: write it all, then read.
    r = httpx.post(f"{web.url}/webhook", content=body, params={"token": TOKEN},
                   headers={"Content-Type": "application/json"}, timeout=60)
    assert r.status_code == 413


def test_chunked_body_over_the_limit_is_413(web):
    def chunks():
        for _ in range(20):
            yield b"x" * 16384

    r = httpx.post(f"{web.url}/webhook", content=chunks(), params={"token": TOKEN},
                   headers={"Content-Type": "application/json"}, timeout=30)
    assert r.status_code == 413 and r.json() == {"error": "body too large"}


def test_legit_webhooks_sharing_a_batch_with_a_failing_row_all_get_200(web):
    # A row whose insert fails (a trigger here, as a corrupt page or a constraint would) must not
    # fail the legitimate webhooks committed in the same group commit. Every request is written on
    # its own open connection at once, so the server reads them in the same loop iterations.
    poison_ids = {880_000_013, 880_000_014, 880_000_015}
    conn = sqlite3.connect(web.tmp / "data" / "chatwootai.db")
    conn.execute(f"CREATE TRIGGER poison BEFORE INSERT ON events WHEN NEW.message_id IN {tuple(poison_ids)}"
                 " BEGIN SELECT RAISE(ABORT, 'poison row'); END")
    conn.commit()
    payloads = [new_message(880_000_100 + i) for i in range(300)]
    for i, poison in enumerate(sorted(poison_ids)):
        payloads.insert(100 * i + 50, new_message(poison))
    socks = [socket.create_connection(("127.0.0.1", web.port), timeout=30) for _ in payloads]
    try:
        requests = [raw_webhook(web, p) for p in payloads]
        for sock, request in zip(socks, requests, strict=True):
            sock.sendall(request)
        results = {}
        for sock, payload in zip(socks, payloads, strict=True):
            status, _, _ = raw_exchange(web, b"", sock)
            results[payload["id"]] = status
    finally:
        for sock in socks:
            sock.close()
        conn.execute("DROP TRIGGER poison")
        conn.commit()
        conn.close()
    assert {results.pop(p) for p in poison_ids} == {500}
    assert set(results.values()) == {200}
    count = sqlite3.connect(web.tmp / "data" / "chatwootai.db").execute(
        "SELECT count(*) FROM events WHERE message_id BETWEEN 880000100 AND 880000399").fetchone()[0]
    assert count == 300
    # The poison rows did share batches with legitimate ones (else this test proves nothing).
    assert "retried row by row" in (web.tmp / "logs" / "webhook.log").read_text()


def test_every_queued_webhook_has_its_own_info_line(web):
    deliveries = [str(uuid.uuid4()) for _ in range(60)]

    async def send_all():
        async with httpx.AsyncClient(timeout=30) as client:
            async def one(i, delivery):
                body = json.dumps(new_message(881_000_000 + i)).encode()
                return await client.post(f"{web.url}/webhook", content=body, params={"token": TOKEN},
                                         headers=signed_headers(body, delivery=delivery))

            return await asyncio.gather(*(one(i, d) for i, d in enumerate(deliveries)))

    assert {r.status_code for r in asyncio.run(send_all())} == {200}
    lines = (web.tmp / "logs" / "webhook.log").read_text().splitlines()
    for i, delivery in enumerate(deliveries):
        [line] = [x for x in lines if f"delivery={delivery}" in x]
        assert " INFO " in line and "webhook queued" in line and f"message_id={881_000_000 + i}" in line


def test_the_event_loop_is_uvloop(web):
    assert "event loop: uvloop" in web.output()


def test_body_nested_a_thousand_levels_is_400_and_not_stored(web):
    # orjson reads up to 1024 levels; the standard json module (the worker's) fails past ~1000.
    payload = new_message()
    raw = json.dumps({**payload, "content_attributes": "DEEP"}).encode().replace(b'"DEEP"', b"[" * 1000 + b"]" * 1000)
    r = post(web, None, raw=raw)
    assert r.status_code == 400 and "nested deeper than 64 levels" in r.json()["error"]
    assert stored(web, message_id=payload["id"]) == []
