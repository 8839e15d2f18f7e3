"""Soak: ten minutes at 50 webhooks/s over 500 conversations, offline responder, real programs.

The web and worker programs run as real processes against the Chatwoot fake (its own process, so
the load generator here shares its interpreter with nothing). A paced generator sends one signed
`message_created` every 20 ms; each answer's latency is recorded per minute. The RSS of web and
worker is sampled every 10 s from /proc. At the end the inbox must drain and every conversation
must have been answered.

Goals (issue 11): RSS growth after the first minute under 10 %, accept p99 under 50 ms in every
minute, the inbox drains. `SOAK_SECONDS` shortens the run for a quick look (CI runs the full 600).
Selected with `-m soak` (`make soak`); `make test` leaves it out.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support import ROOT, TOKEN, Program, base_env, fixture_event, free_port, signed_headers

pytestmark = [pytest.mark.soak, pytest.mark.timeout(1800)]

SECONDS = float(os.environ.get("SOAK_SECONDS", "600"))
RATE = 50.0  # webhooks per second
CONVERSATIONS = 500
SAMPLE_S = 10.0
BOT_TOKEN, ADMIN_TOKEN = "bot-token-soak-4e1d", "admin-token-soak-92b7"
QUESTIONS = ("qual o preço do protetor solar?", "vocês abrem sábado?", "quero marcar uma limpeza de pele",
             "quanto custa o hidratante facial?", "qual o endereço da loja?", "aceitam pix?")


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) / 1024


def p99(values: list[float]) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(0.99 * len(values)))] if values else float("nan")


class FakeProcess:
    """The Chatwoot fake in its own process, recording each request as a JSON line."""

    def __init__(self, tmp: Path):
        self.record = tmp / "chatwoot-requests.jsonl"
        self.out = (tmp / "chatwoot-fake.out").open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.fakes.chatwoot", "--record", str(self.record),
             "--token", ADMIN_TOKEN, "--bot-token", BOT_TOKEN],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=self.out, text=True)
        line = self.proc.stdout.readline()
        assert line.startswith("LISTENING "), line
        self.url = line.split()[1]

    def replies_by_conversation(self) -> dict[int, int]:
        counts: dict[int, int] = {}
        if not self.record.exists():
            return counts
        for raw in self.record.read_text().splitlines():
            rec = json.loads(raw)
            m = re.search(r"/conversations/(\d+)/messages$", rec["path"])
            if rec["method"] == "POST" and m and not (rec.get("json") or {}).get("private"):
                counts[int(m.group(1))] = counts.get(int(m.group(1)), 0) + 1
        return counts

    def stop(self) -> int:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.out.close()
        return self.proc.returncode


async def drive(url: str, seconds: float, latencies: dict[int, list[float]], statuses: dict[int, int],
                sample) -> int:
    template = fixture_event("message_created_incoming")
    rng = random.Random(11)
    ids = itertools.count(7_000_000)
    start = time.monotonic()
    sent = 0
    next_sample = start
    async with httpx.AsyncClient(timeout=10, limits=httpx.Limits(max_connections=32)) as client:
        tasks: set[asyncio.Task] = set()

        async def one(payload: dict) -> None:
            body = json.dumps(payload).encode()
            t0 = time.perf_counter()
            try:
                r = await client.post(f"{url}/webhook", content=body, params={"token": TOKEN},
                                      headers=signed_headers(body, delivery=f"soak-{payload['id']}"))
                code = r.status_code
            except httpx.HTTPError:
                code = 0
            minute = int((time.monotonic() - start) // 60)
            latencies.setdefault(minute, []).append((time.perf_counter() - t0) * 1000)
            statuses[code] = statuses.get(code, 0) + 1

        while (elapsed := time.monotonic() - start) < seconds:
            if time.monotonic() >= next_sample:
                sample(elapsed)
                next_sample += SAMPLE_S
            payload = json.loads(json.dumps(template))
            payload["id"] = next(ids)
            payload["content"] = rng.choice(QUESTIONS)
            payload["conversation"]["id"] = 50_000 + sent % CONVERSATIONS
            task = asyncio.create_task(one(payload))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            sent += 1
            await asyncio.sleep(max(0.0, start + sent / RATE - time.monotonic()))
        await asyncio.gather(*tasks)
        sample(time.monotonic() - start)
    return sent


def inbox_depth(url: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    m = re.search(r"^chatwootai_inbox_depth (\S+)$", text, re.M)
    return float(m.group(1)) if m else float("nan")


def test_soak_fifty_per_second_memory_flat_p99_under_50ms_inbox_drains(tmp_path):
    fake = FakeProcess(tmp_path)
    port = free_port()
    env = base_env(tmp_path, WEBHOOK_PORT=str(port), CHATWOOT_BASE_URL=fake.url, CHATWOOT_API_KEY=BOT_TOKEN,
                   CHATWOOT_ADMIN_API_KEY=ADMIN_TOKEN, CHATWOOT_ACCOUNT_ID="1", COALESCE_WINDOW_MS="1000",
                   BUSINESS_HOURS="mon-sun 00:00-24:00", LOG_LEVEL="INFO")
    web = Program("serve", env, cwd=tmp_path, port=port).start()
    worker = Program("worker", env, cwd=tmp_path).start(wait_ready=False)
    samples: list[tuple[float, float, float]] = []  # (seconds, web MB, worker MB)
    latencies: dict[int, list[float]] = {}
    statuses: dict[int, int] = {}
    try:
        sent = asyncio.run(drive(web.url, SECONDS, latencies, statuses,
                                 lambda t: samples.append((t, rss_mb(web.proc.pid), rss_mb(worker.proc.pid)))))
        drain_started = time.monotonic()
        while inbox_depth(web.url) > 0 and time.monotonic() - drain_started < 180:
            time.sleep(1)
        drained_s = time.monotonic() - drain_started
        depth = inbox_depth(web.url)
        answered = fake.replies_by_conversation()
        assert web.proc.poll() is None and worker.proc.poll() is None, "a program died during the soak"
    finally:
        worker.stop()
        web.stop()
        fake.stop()

    after_first_minute = [s for s in samples if s[0] >= 60] or samples
    base, end = after_first_minute[0], samples[-1]
    web_growth = (end[1] - base[1]) / base[1] * 100
    worker_growth = (end[2] - base[2]) / base[2] * 100
    minute_p99 = {m: round(p99(v), 1) for m, v in sorted(latencies.items())}
    worst = max(minute_p99.values())
    conversations_answered = sum(1 for c in range(50_000, 50_000 + CONVERSATIONS) if answered.get(c))
    print(f"\nsoak: {SECONDS:.0f} s at {RATE:.0f}/s, {sent} sent, statuses {dict(sorted(statuses.items()))}; "
          f"accept p99 per minute {list(minute_p99.values())} ms (worst {worst} ms); "
          f"RSS web {samples[0][1]:.0f}->{base[1]:.0f}->{end[1]:.0f} MB ({web_growth:+.1f}% after minute 1), "
          f"worker {samples[0][2]:.0f}->{base[2]:.0f}->{end[2]:.0f} MB ({worker_growth:+.1f}%); "
          f"inbox depth {depth:.0f} after {drained_s:.0f} s; "
          f"{conversations_answered}/{CONVERSATIONS} conversations answered, {sum(answered.values())} replies")
    assert statuses == {200: sent}, statuses
    assert depth == 0, f"inbox did not drain: {depth} waiting"
    assert conversations_answered == CONVERSATIONS
    assert worst < 50, f"accept p99 {worst} ms in some minute: {minute_p99}"
    assert web_growth < 10 and worker_growth < 10, samples
