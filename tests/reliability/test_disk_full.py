"""Disk full and back (issues 7 and 11): DATA_DIR on a 2 MB tmpfs, filled up, then freed.

While the disk is full: webhooks get 500 (Chatwoot retries them), /ready is 503. Once space
returns, without restarting anything: the re-sent webhooks are accepted, every accepted message
is answered, /ready is 200 again. Needs root for `mount` (CI runs as root).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid

import httpx
import pytest

from tests.integration.conftest import _message_ids
from tests.reliability.harness import summary
from tests.support import TOKEN, fixture_event, signed_headers

BEFORE, DURING = 10, 60


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "data"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs the suite as root)")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def message(conversation: int) -> tuple[bytes, str]:
    payload = fixture_event("message_created_incoming")
    payload["id"] = next(_message_ids)
    payload["content"] = "vocês aceitam pix?"
    payload["conversation"]["id"] = conversation
    return json.dumps(payload).encode(), str(uuid.uuid4())


def send(url: str, body: bytes, delivery: str) -> int:
    try:
        return httpx.post(f"{url}/webhook", content=body, params={"token": TOKEN},
                          headers=signed_headers(body, delivery=delivery), timeout=10).status_code
    except httpx.HTTPError:
        return 0


def fill(path) -> int:
    written = 0
    with open(path, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 16384)
                f.flush()
                written += 16384
        except OSError:
            pass
        try:
            f.close()
        except OSError:
            pass
    return written


def test_disk_full_then_freed_everything_recovers_without_restart(small_disk, appliance, chatwoot):
    app = appliance(WORKER_CONCURRENCY="4")
    url = app.web.url
    worker_pid, web_pid = app.worker.proc.pid, app.web.proc.pid
    for c in range(BEFORE):
        assert send(url, *message(1000 + c)) == 200
    for c in range(BEFORE):
        app.wait_replies(1000 + c)

    filler = small_disk / "filler"
    fill(filler)
    first_500_at = None
    accepted: list[int] = []
    refused: list[tuple[int, bytes, str]] = []
    for c in range(DURING):
        conversation = 2000 + c
        body, delivery = message(conversation)
        status = send(url, body, delivery)
        if status == 200:
            accepted.append(conversation)
        else:
            assert status == 500, status
            first_500_at = first_500_at or time.monotonic()
            refused.append((conversation, body, delivery))
    assert refused, "a full disk refused nothing: the tmpfs did not fill"
    ready = None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        r = httpx.get(f"{url}/ready")
        if r.status_code == 503:
            ready = r.json()
            break
        time.sleep(0.2)
    assert ready is not None, "/ready stayed 200 while the inbox could not write"
    not_ready_after = time.monotonic() - first_500_at
    assert ready["checks"]["inbox"]["status"] == "cannot write"
    assert "database or disk is full" in ready["checks"]["inbox"]["error"]
    time.sleep(2.0)  # let the worker hit the full disk too (heartbeat, leases, turns)

    os.unlink(filler)
    freed_at = time.monotonic()
    # Chatwoot re-sends what got no 200, with the same delivery id.
    retries = 0
    for conversation, body, delivery in refused:
        for _ in range(3):
            retries += 1
            if send(url, body, delivery) == 200:
                accepted.append(conversation)
                break
            time.sleep(0.5)
    lost = [c for c, _, _ in refused if c not in accepted]
    for conversation in accepted:
        app.wait_replies(conversation, timeout=60)
    answered_in = time.monotonic() - freed_at
    deadline = time.monotonic() + 20
    while httpx.get(f"{url}/ready").status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.2)
    ready_after = httpx.get(f"{url}/ready")
    assert ready_after.status_code == 200, ready_after.text
    duplicates = sum(max(0, len(app.replies(c)) - 1) for c in accepted)
    assert app.worker.proc.pid == worker_pid and app.worker.proc.poll() is None
    assert app.web.proc.pid == web_pid and app.web.proc.poll() is None
    heartbeat_lines = [line for line in app.worker.output().splitlines() if "heartbeat not recorded" in line]
    assert not any("cannot rollback" in line for line in heartbeat_lines), heartbeat_lines
    summary("disk full and back",
            sent_while_full=DURING, accepted_while_full=DURING - len(refused), refused_500=len(refused),
            ready_503_s_after_first_500=f"{not_ready_after:.1f}", resent=retries, accepted=len(accepted),
            answered=sum(1 for c in accepted if app.replies(c)), lost=len(lost), duplicated=duplicates,
            all_answered_s_after_free=f"{answered_in:.1f}", restarts=0,
            heartbeat_error=(heartbeat_lines[0].split("heartbeat not recorded: ")[-1] if heartbeat_lines else "none"))
    assert not lost and duplicates == 0
