"""ChatwootClient over real HTTP on loopback against the Chatwoot fake: retries, Retry-After,
rejections, network failures, timeouts, and what error texts may contain."""

from __future__ import annotations

import asyncio
import random
import socket
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from app.chatwoot import api
from app.client import (
    ChatwootClient,
    ChatwootRejected,
    ChatwootUnavailable,
    DeliveryUnknown,
    normalise_base_url,
    parse_retry_after,
    send_sync,
)
from tests.fakes.chatwoot import Fault, checked_fake

BOT = "bot-token"
REPLY = api.create_message(1, 7, "Olá! Temos sim.")
OPEN = api.toggle_status(1, 7, "open")


@pytest.fixture
def chatwoot_fake():
    with checked_fake() as fake:
        yield fake


class Sleeps:
    """An injected sleep that records the delays and does not wait."""

    def __init__(self):
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def send(client_kwargs: dict, request: api.Request = REPLY):
    async def run():
        async with ChatwootClient(**client_kwargs) as client:
            return await client.send(request)

    return asyncio.run(run())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_send_message_creates_it(chatwoot_fake):
    answer = send({"base_url": chatwoot_fake.url, "api_key": BOT})
    [message] = chatwoot_fake.messages(7)
    assert answer["id"] == message["id"] and answer["content"] == "Olá! Temos sim."
    assert message["message_type"] == 1 and message["private"] is False
    [req] = chatwoot_fake.requests
    assert req.headers["api_access_token"] == BOT
    assert req.headers["content-type"].startswith("application/json")
    assert req.json == REPLY.json


def test_base_url_with_api_v1_suffix_works(chatwoot_fake):
    for base in (chatwoot_fake.url + "/api/v1", chatwoot_fake.url + "/api/v1/", chatwoot_fake.url + "/"):
        send({"base_url": base, "api_key": BOT})
    assert [r.path for r in chatwoot_fake.requests] == [REPLY.path] * 3
    assert len(chatwoot_fake.messages(7)) == 3


def test_empty_answer_is_an_empty_dict(chatwoot_fake):
    assert send({"base_url": chatwoot_fake.url, "api_key": BOT}, api.toggle_typing(1, 7, True)) == {}
    assert chatwoot_fake.conversation(7)["typing"] == "on"


def test_500_twice_then_200_succeeds_after_three_attempts(chatwoot_fake):
    chatwoot_fake.fault("POST", r"/toggle_status$", Fault.error(500), Fault.error(502, "bad gateway"))
    sleeps, retries = Sleeps(), []
    kwargs = {"base_url": chatwoot_fake.url, "api_key": BOT, "sleep": sleeps}
    send(kwargs | {"on_retry": lambda req, attempt, why: retries.append((req.purpose, attempt, why))}, OPEN)
    assert len(chatwoot_fake.requests) == 3
    assert chatwoot_fake.conversation(7)["status"] == "open"
    assert [(p, a) for p, a, _ in retries] == [("status_open", 1), ("status_open", 2)]
    assert "HTTP 500" in retries[0][2] and "bad gateway" in retries[1][2]
    assert len(sleeps.delays) == 2


def test_backoff_is_exponential_with_full_jitter(chatwoot_fake):
    chatwoot_fake.fault("POST", r"/toggle_status$", *[Fault.error(503)] * 4)
    sleeps = Sleeps()
    kwargs = {"base_url": chatwoot_fake.url, "api_key": BOT, "sleep": sleeps, "rng": random.Random(7)}
    send(kwargs | {"backoff_base": 1.0, "backoff_max": 5.0}, OPEN)
    ceilings = [1.0, 2.0, 4.0, 5.0]
    assert len(sleeps.delays) == 4
    assert all(0 <= d <= c for d, c in zip(sleeps.delays, ceilings, strict=True))
    assert len(set(sleeps.delays)) == 4  # jittered, not a fixed schedule


def test_429_honours_retry_after_seconds_with_a_real_wait(chatwoot_fake):
    chatwoot_fake.fault("POST", r"/messages$", Fault.error(429, "Rate limit exceeded", retry_after=2))
    started = time.monotonic()
    send({"base_url": chatwoot_fake.url, "api_key": BOT, "backoff_base": 0.01})
    elapsed = time.monotonic() - started
    first, second = chatwoot_fake.requests
    assert elapsed >= 2.0
    assert second.time - first.time >= 1.95  # wall clock: allow clock granularity
    assert len(chatwoot_fake.messages(7)) == 1


def test_retry_after_http_date_and_cap(chatwoot_fake):
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=20), usegmt=True)
    chatwoot_fake.fault(
        "POST", r"/messages$", Fault.error(429, retry_after=when), Fault.error(429, retry_after=600)
    )
    sleeps = Sleeps()
    send({"base_url": chatwoot_fake.url, "api_key": BOT, "sleep": sleeps, "backoff_max": 30.0})
    assert 15 <= sleeps.delays[0] <= 20.5
    assert sleeps.delays[1] == 30.0  # capped at backoff_max


def test_parse_retry_after():
    now = 1_700_000_000.0
    assert parse_retry_after("2", now=now) == 2.0
    assert parse_retry_after("-5", now=now) == 0.0
    assert parse_retry_after("Tue, 14 Nov 2023 22:13:30 GMT", now=now) == pytest.approx(10.0)
    assert parse_retry_after("soon", now=now) is None
    assert parse_retry_after(None) is None


def test_404_is_rejected_without_retry(chatwoot_fake):
    chatwoot_fake.fault("POST", r"/messages$", Fault(404, {"error": "Resource could not be found"}))
    with pytest.raises(ChatwootRejected) as caught:
        send({"base_url": chatwoot_fake.url, "api_key": BOT, "sleep": Sleeps()})
    assert caught.value.status == 404
    assert caught.value.error == "Resource could not be found"
    assert caught.value.purpose == "reply"
    assert len(chatwoot_fake.requests) == 1


def test_422_carries_chatwoots_message(chatwoot_fake):
    chatwoot_fake.fault("POST", r"/messages$", Fault(422, {"message": "Too many messages"}))
    with pytest.raises(ChatwootRejected) as caught:
        send({"base_url": chatwoot_fake.url, "api_key": BOT})
    assert caught.value.status == 422 and caught.value.error == "Too many messages"


def test_wrong_token_is_rejected_401_and_not_echoed(chatwoot_fake):
    secret = "s3cr3t-token-value-XYZ"
    with pytest.raises(ChatwootRejected) as caught:
        send({"base_url": chatwoot_fake.url, "api_key": secret})
    assert caught.value.status == 401 and caught.value.error == "Invalid Access Token"
    assert secret not in str(caught.value) and secret not in repr(caught.value.args)


def test_token_and_body_never_appear_in_exception_text(chatwoot_fake):
    # A misbehaving proxy that echoes the request back must not leak it through our errors.
    secret = "bot-token"
    chatwoot_fake.fault("POST", r"/messages$", Fault(500, {"error": f"echo {secret}"}))
    with pytest.raises(ChatwootUnavailable) as unavailable:
        send({"base_url": chatwoot_fake.url, "api_key": secret, "max_attempts": 2, "sleep": Sleeps()})
    chatwoot_fake.fault("POST", r"/messages$", Fault(400, {"error": f"bad {secret}"}))
    with pytest.raises(ChatwootRejected) as rejected:
        send({"base_url": chatwoot_fake.url, "api_key": secret})
    for exc in (unavailable.value, rejected.value):
        text = " ".join(
            [str(exc), repr(exc.args), str(getattr(exc, "last_error", "")), getattr(exc, "error", "")]
        )
        assert secret not in text
        assert "echo ***" in text or "bad ***" in text
        assert "Olá! Temos sim." not in text  # the request body (customer-facing text) stays out


def test_network_down_gives_unavailable_after_max_attempts():
    sleeps, retries = Sleeps(), []
    kwargs = {
        "base_url": f"http://127.0.0.1:{free_port()}",
        "api_key": BOT,
        "max_attempts": 3,
        "sleep": sleeps,
    }
    with pytest.raises(ChatwootUnavailable) as caught:
        send(kwargs | {"on_retry": lambda *a: retries.append(a)})
    assert caught.value.attempts == 3 and caught.value.status is None
    assert "network error" in caught.value.last_error and "ConnectError" in caught.value.last_error
    assert len(sleeps.delays) == 2 and len(retries) == 2
    assert BOT not in str(caught.value)


def test_5xx_exhausted_keeps_last_status(chatwoot_fake):
    chatwoot_fake.fault("POST", r"/toggle_status$", *[Fault.error(503, "maintenance")] * 3)
    with pytest.raises(ChatwootUnavailable) as caught:
        send({"base_url": chatwoot_fake.url, "api_key": BOT, "max_attempts": 3, "sleep": Sleeps()}, OPEN)
    assert caught.value.status == 503 and "maintenance" in caught.value.last_error
    assert caught.value.attempts == 3 and not caught.value.maybe_sent


def test_a_502_on_a_message_post_is_not_retried_blind(chatwoot_fake):
    # A proxy's 502 can come after Chatwoot saved the message: with nothing to look it up, the
    # client stops at once and says it may have been sent.
    chatwoot_fake.fault("POST", r"/messages$", Fault.saved_then(502))
    with pytest.raises(ChatwootUnavailable) as caught:
        send({"base_url": chatwoot_fake.url, "api_key": BOT, "sleep": Sleeps()})
    assert caught.value.maybe_sent and caught.value.attempts == 1 and caught.value.status == 502
    assert len(chatwoot_fake.requests) == 1 and len(chatwoot_fake.messages(7)) == 1


def confirm_send(fake, answers: list, request: api.Request = REPLY):
    """Send with a `confirm` that answers from `answers` in turn; returns (result, looks)."""
    looks = []

    async def confirm():
        looks.append(len(fake.messages(7)))
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def run():
        async with ChatwootClient(fake.url, BOT, sleep=Sleeps()) as client:
            return await client.send(request, confirm=confirm)

    return asyncio.run(run()), looks


def test_a_5xx_whose_message_is_found_returns_it_and_is_not_resent(chatwoot_fake):
    chatwoot_fake.fault("POST", r"/messages$", Fault.saved_then(504))
    found = {"id": 4242, "content": "Olá! Temos sim."}
    result, looks = confirm_send(chatwoot_fake, [found])
    assert result == found and looks == [1]
    assert len([r for r in chatwoot_fake.requests if r.method == "POST"]) == 1


def test_a_5xx_whose_message_is_not_there_is_sent_again(chatwoot_fake):
    chatwoot_fake.fault("POST", r"/messages$", Fault.error(502), Fault.error(500))
    result, looks = confirm_send(chatwoot_fake, [None, None])
    assert looks == [0, 0] and len(chatwoot_fake.messages(7)) == 1 and result["id"] == chatwoot_fake.messages(7)[0]["id"]


def test_a_5xx_that_cannot_be_settled_is_maybe_sent(chatwoot_fake):
    chatwoot_fake.fault("POST", r"/messages$", Fault.saved_then(502))
    with pytest.raises(ChatwootUnavailable) as caught:
        confirm_send(chatwoot_fake, [DeliveryUnknown("cannot tell", look_again=True)])
    assert caught.value.maybe_sent and caught.value.look_again and "cannot tell" in caught.value.last_error


def test_timeout_is_retried(chatwoot_fake):
    # Setting a status twice is the same as once: a timed-out toggle is safe to send again.
    chatwoot_fake.fault("POST", r"/toggle_status$", Fault.hang_up())
    retries = []
    kwargs = {"base_url": chatwoot_fake.url, "api_key": BOT, "timeout": 0.5, "sleep": Sleeps()}
    started = time.monotonic()
    send(kwargs | {"on_retry": lambda req, attempt, why: retries.append(why)}, api.toggle_status(1, 7, "open"))
    elapsed = time.monotonic() - started
    print(f"hung request timed out and retried in {elapsed:.2f} s (timeout 0.5 s)")
    # The fake hangs until it is stopped: returning at all is the timeout working. The bound
    # only keeps a broken timeout from hanging the suite; it is generous for a shared machine.
    assert elapsed < 30
    assert retries == ["timeout (ReadTimeout)"]
    assert len(chatwoot_fake.requests) == 2 and chatwoot_fake.conversation(7)["status"] == "open"


def test_read_timeout_on_a_message_post_is_not_retried(chatwoot_fake):
    # Chatwoot got the POST and did not answer: the message may exist. Posting again could
    # duplicate it, so the client stops and says it may have been sent.
    chatwoot_fake.fault("POST", r"/messages$", Fault.hang_up())
    with pytest.raises(ChatwootUnavailable) as caught:
        send({"base_url": chatwoot_fake.url, "api_key": BOT, "timeout": 0.5, "sleep": Sleeps()})
    assert caught.value.maybe_sent and caught.value.attempts == 1
    assert len(chatwoot_fake.requests) == 1


def test_connection_refused_on_a_message_post_is_retried():
    # Nothing listening: Chatwoot never saw the request, so retrying cannot duplicate it.
    with pytest.raises(ChatwootUnavailable) as caught:
        send({"base_url": f"http://127.0.0.1:{free_port()}", "api_key": BOT, "max_attempts": 3, "sleep": Sleeps()})
    assert caught.value.attempts == 3 and not caught.value.maybe_sent


def test_timeouts_exhausted_give_unavailable(chatwoot_fake):
    chatwoot_fake.fault("POST", r"/toggle_status$", Fault.hang_up(), Fault.hang_up())
    with pytest.raises(ChatwootUnavailable) as caught:
        send(
            {
                "base_url": chatwoot_fake.url,
                "api_key": BOT,
                "timeout": 0.3,
                "max_attempts": 2,
                "sleep": Sleeps(),
            },
            api.toggle_status(1, 7, "open"),
        )
    assert caught.value.attempts == 2 and caught.value.last_error.startswith("timeout")
    assert not caught.value.maybe_sent


def test_send_sync_for_the_cli(chatwoot_fake):
    profile = send_sync(chatwoot_fake.url + "/api/v1", "admin-token", api.get_profile())
    assert profile["role"] == "administrator"


def test_client_refuses_bad_configuration():
    with pytest.raises(ValueError):
        ChatwootClient("chat.example.com", BOT)
    with pytest.raises(ValueError):
        ChatwootClient("https://chat.example.com", "")
    assert normalise_base_url(" https://chat.example.com/sub/api/v1/ ") == "https://chat.example.com/sub"
