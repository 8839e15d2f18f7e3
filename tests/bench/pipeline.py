"""Pipeline benchmark (issue: the worker).

The real web and worker programs, the Chatwoot fake and (for the crew path) the LLM fake, each
in its own process, COALESCE_WINDOW_MS=0 (the coalescing window is excluded by construction).
For each path:
  - latency: messages sent one at a time (each waits for its reply), accepted→reply-posted
    measured from the store (turn's newest message stored → reply's 2xx recorded), p50/p99;
  - throughput: a burst of messages to distinct conversations, turns/s from the first stored
    message to the last reply posted.
Paths: (a) the offline responder (no LLM_MODEL); (b) the crew path with an instant LLM fake.
Idle cost: after warm-up the worker rests --idle seconds with nothing to do; its CPU time over
that rest (from /proc, user + system), as CPU-seconds per minute.

    .venv/bin/python tests/bench/pipeline.py [--messages 60] [--burst 80] [--idle 30]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.support import TOKEN, base_env, fixture_event, free_port, signed_headers  # noqa: E402

QUESTIONS = [
    "quanto custa o hidratante facial?",
    "vocês aceitam pix?",
    "qual o horário de funcionamento?",
    "quanto custa o protetor solar?",
    "vocês fazem entrega?",
    "how much is the facial moisturizer?",
]
LLM_SERVER = """
import sys, time
sys.path.insert(0, sys.argv[1])
from tests.fakes.llm import FakeLLM
fake = FakeLLM().start()
print("LISTENING", fake.base_url, flush=True)
while True:
    time.sleep(3600)
"""


def spawn(cmd: list[str], env: dict, cwd: Path, log: Path) -> subprocess.Popen:
    return subprocess.Popen(cmd, env=env, cwd=cwd, stdout=log.open("wb"), stderr=subprocess.STDOUT)


def spawn_listening(cmd: list[str], env: dict, cwd: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    if not line.startswith("LISTENING"):
        raise SystemExit(f"{cmd} did not start: {line!r}")
    return proc, line.split()[1].strip()


_http = httpx.Client(timeout=10)  # one keep-alive connection: the poster must not be the bottleneck


def post(web_url: str, conversation: int, text: str, message_id: int) -> None:
    payload = fixture_event("message_created_incoming")
    payload.update(id=message_id, content=text)
    payload["conversation"]["id"] = conversation
    body = json.dumps(payload).encode()
    r = _http.post(f"{web_url}/webhook", content=body, params={"token": TOKEN},
                   headers=signed_headers(body, delivery=str(uuid.uuid4())))
    assert r.json() == {"status": "queued"}, r.text


def finished_turns(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT count(*) FROM turns WHERE finished_at IS NOT NULL").fetchone()[0]
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()


def wait_turns(db: Path, count: int, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while finished_turns(db) < count:
        if time.monotonic() > deadline:
            raise SystemExit(f"only {finished_turns(db)} of {count} turns finished")
        time.sleep(0.002)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def idle_cpu_per_minute(pid: int, seconds: float) -> float:
    before, start = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return (cpu_seconds(pid) - before) / (time.monotonic() - start) * 60


def run_path(name: str, args, llm_url: str | None, chatwoot_url: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        port = free_port()
        env = {**os.environ, "PYTHONPATH": str(ROOT), **base_env(
            tmp_path, WEBHOOK_PORT=str(port), COALESCE_WINDOW_MS="0", LOG_LEVEL="WARNING",
            CHATWOOT_BASE_URL=chatwoot_url, CHATWOOT_API_KEY="bot-token", CHATWOOT_ACCOUNT_ID="1",
            WORKER_CONCURRENCY="4")}
        if llm_url:
            env.update(LLM_MODEL="fake-model", LLM_BASE_URL=llm_url, LLM_API_KEY="sk-fake",
                       LLM_MAX_CALLS_PER_TURN="4")
        web = spawn([sys.executable, "-m", "app.cli", "serve"], env, tmp_path, tmp_path / "web.out")
        worker = spawn([sys.executable, "-m", "app.cli", "worker"], env, tmp_path, tmp_path / "worker.out")
        db = tmp_path / "data" / "chatwootai.db"
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(600):
                try:
                    if httpx.get(f"{url}/ready").json()["ready"]:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.05)
            # Warm-up: the first turn pays for imports and (crew path) crewai's first crew.
            post(url, 1, QUESTIONS[0], 1)
            wait_turns(db, 1)
            idle = idle_cpu_per_minute(worker.pid, args.idle) if args.idle else float("nan")
            base = 1
            for i in range(args.messages):
                post(url, 100 + i % 10, QUESTIONS[i % len(QUESTIONS)], 1000 + i)
                wait_turns(db, base + i + 1)
            conn = sqlite3.connect(db)
            latencies = [row[0] * 1000 for row in conn.execute(
                "SELECT o.sent_at - t.accepted_at FROM turns t JOIN outbox o ON o.turn_id = t.id"
                " WHERE o.purpose IN ('reply', 'handoff_message') AND o.state = 'sent' AND t.id > 1")]
            actions = dict(conn.execute("SELECT action, count(*) FROM turns WHERE id > 1 GROUP BY action"))
            calls = conn.execute("SELECT avg(llm_calls) FROM turns WHERE id > 1").fetchone()[0]
            conn.close()

            done = finished_turns(db)
            start = time.perf_counter()
            for i in range(args.burst):
                post(url, 10_000 + i, QUESTIONS[i % len(QUESTIONS)], 100_000 + i)
            wait_turns(db, done + args.burst)
            conn = sqlite3.connect(db)
            first, last = conn.execute(
                "SELECT min(t.accepted_at), max(o.sent_at) FROM turns t JOIN outbox o ON o.turn_id = t.id"
                " WHERE t.conversation_id >= 10000").fetchone()
            conn.close()
            wall = time.perf_counter() - start
        finally:
            for proc in (worker, web):
                proc.terminate()
                proc.wait(timeout=30)
    latencies.sort()
    return {
        "name": name,
        "n": len(latencies),
        "p50": statistics.median(latencies),
        "p99": latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
        "turns_per_s": args.burst / (last - first),
        "wall": wall,
        "actions": actions,
        "calls": calls or 0.0,
        "idle": idle,
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=60)
    parser.add_argument("--burst", type=int, default=80)
    parser.add_argument("--idle", type=float, default=30.0, help="seconds the worker rests while measured")
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    chatwoot, chatwoot_url = spawn_listening(
        [sys.executable, "-m", "tests.fakes.chatwoot", "--port", "0", "--bot-token", "bot-token"], env, ROOT)
    llm, llm_url = spawn_listening([sys.executable, "-c", LLM_SERVER, str(ROOT)], env, ROOT)
    try:
        results = [run_path("(a) offline responder", args, None, chatwoot_url),
                   run_path("(b) crew path, instant LLM fake", args, llm_url, chatwoot_url)]
    finally:
        for proc in (llm, chatwoot):
            proc.terminate()
            proc.wait(timeout=10)
    print(f"accepted→reply-posted, coalescing window 0 (excluded); {args.messages} sequential turns, "
          f"burst of {args.burst}; worker concurrency 4")
    for r in results:
        print(f"{r['name']:34s} p50 {r['p50']:7.1f} ms  p99 {r['p99']:7.1f} ms  "
              f"burst {r['turns_per_s']:6.1f} turns/s  LLM calls/turn {r['calls']:.2f}  "
              f"idle worker {r['idle']:.3f} CPU-s/min  decisions {r['actions']}")
    print(f"goals: p50 < 20 ms offline, < 100 ms crew path; idle worker CPU near zero "
          f"(measured over {args.idle:.0f} s at rest)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
