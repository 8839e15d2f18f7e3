"""The appliance for end-to-end tests: the real web and worker programs, the Chatwoot fake."""

from __future__ import annotations

import itertools
import json
import time
import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.fakes.chatwoot import checked_fake
from tests.integration.store_view import wait_worked
from tests.support import TOKEN, Program, base_env, fixture_event, free_port, signed_headers

BOT_TOKEN = "bot-token-e2e-51c0"
ADMIN_TOKEN = "admin-token-e2e-77aa"
_message_ids = itertools.count(int(time.time()) % 1_000_000 * 100)


class Appliance:
    def __init__(self, tmp_path, chatwoot, **env):
        self.tmp = tmp_path
        self.chatwoot = chatwoot
        port = free_port()
        self.env = base_env(
            tmp_path,
            WEBHOOK_PORT=str(port),
            CHATWOOT_BASE_URL=chatwoot.url,
            CHATWOOT_API_KEY=BOT_TOKEN,
            CHATWOOT_ADMIN_API_KEY=ADMIN_TOKEN,
            CHATWOOT_ACCOUNT_ID="1",
            LOG_LEVEL="DEBUG",
            BUSINESS_HOURS="mon-sun 00:00-24:00",
        )
        self.env.update(env)
        self.web = Program("serve", self.env, cwd=tmp_path, port=port)
        self.worker = Program("worker", self.env, cwd=tmp_path)

    def start(self) -> Appliance:
        self.web.start()
        self.start_worker()
        return self

    def start_worker(self) -> None:
        self.worker = Program("worker", self.env, cwd=self.tmp)
        self.worker.start(wait_ready=False)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            ready = httpx.get(f"{self.web.url}/ready").json()
            if isinstance(ready["checks"]["worker"], dict) and self.worker.proc.poll() is None:
                return
            if self.worker.proc.poll() is not None:
                raise RuntimeError(f"worker exited:\n{self.worker.output()}")
            time.sleep(0.05)
        raise TimeoutError(f"worker never beat:\n{self.worker.output()}")

    def stop(self) -> None:
        self.worker.stop()
        self.web.stop()

    def post(self, payload: dict, *, delivery: str | None = None) -> dict:
        body = json.dumps(payload).encode()
        r = httpx.post(f"{self.web.url}/webhook", content=body, params={"token": TOKEN},
                       headers=signed_headers(body, delivery=delivery or str(uuid.uuid4())), timeout=10)
        assert r.status_code == 200, r.text
        return r.json()

    def customer_says(self, conversation_id: int, text: str, *, status: str = "pending",
                      delivery: str | None = None, attachments: list | None = None, message_id: int | None = None):
        payload = fixture_event("message_created_incoming")
        payload["id"] = message_id or next(_message_ids)
        payload["content"] = text
        payload["conversation"]["id"] = conversation_id
        payload["conversation"]["status"] = status
        if attachments is not None:
            payload["attachments"] = attachments
        return payload, self.post(payload, delivery=delivery)

    def agent_says(self, conversation_id: int, text: str, *, private: bool = False):
        payload = fixture_event("message_created_private_note" if private else "message_created_outgoing_agent")
        payload["id"] = next(_message_ids)
        payload["content"] = text
        payload["conversation"]["id"] = conversation_id
        return self.post(payload)

    def status_changes(self, conversation_id: int, status: str, previous: str):
        payload = fixture_event("conversation_status_changed")
        payload["id"] = conversation_id
        payload["status"] = status
        payload["changed_attributes"] = [{"status": {"previous_value": previous, "current_value": status}}]
        return self.post(payload)

    def replies(self, conversation_id: int) -> list[dict]:
        return [m for m in self.chatwoot.messages(conversation_id) if not m["private"]]

    def wait_replies(self, conversation_id: int, count: int = 1, timeout: float = 15.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            replies = self.replies(conversation_id)
            if len(replies) >= count:
                return replies
            time.sleep(0.02)
        raise AssertionError(
            f"expected {count} replies in conversation {conversation_id}, got {self.replies(conversation_id)}\n"
            f"worker output:\n{self.worker.output()[-4000:]}"
        )

    def wait_worked(self, *conversation_ids: int, timeout: float = 20.0) -> None:
        """Wait until the worker is done with these conversations (a fact in the store, not a
        sleep): only then does "no reply was sent" prove that none will be."""
        wait_worked(self.tmp / "data", *conversation_ids, timeout=timeout, worker_output=self.worker.output)

    def settle(self, seconds: float = 1.0) -> None:
        """A sleep. Kept only for tests not yet moved to `wait_worked` (a fact, not a clock):
        prefer that; nothing in test_worker_e2e.py sleeps any more."""
        time.sleep(seconds)

    def cli(self, *args: str):
        import subprocess
        import sys

        return subprocess.run([sys.executable, "-m", "app.cli", *args], env=self.worker.env, cwd=self.tmp,
                              capture_output=True, text=True, timeout=60)


@pytest.fixture
def chatwoot():
    with checked_fake(bot_tokens=(BOT_TOKEN,), user_tokens=(ADMIN_TOKEN,)) as fake:
        yield fake


def appliances(tmp_path, chatwoot) -> Iterator[Callable[..., Appliance]]:
    """`start(**env)` starts the real web and worker; all are stopped afterwards (also used by
    tests/reliability/harness.py)."""
    started: list[Appliance] = []

    def start(**env) -> Appliance:
        app = Appliance(tmp_path, chatwoot, **env).start()
        started.append(app)
        return app

    yield start
    for app in started:
        app.stop()


@pytest.fixture
def appliance(tmp_path, chatwoot):
    yield from appliances(tmp_path, chatwoot)
