"""Ingest benchmark (issue: webhook ingress).

Under one load generator, in one run:
  (a) a bare Sanic route that answers 200 {"status":"queued"} — the ceiling of the framework here;
  (b) the real `chatwootai serve` /webhook: signature + token verification, parsing, policy and the
      durable group-commit inbox (WAL, synchronous=NORMAL), one INFO log line per webhook;
  (c) the same as (b) at LOG_LEVEL=WARNING, to show what the one INFO line per webhook costs.
All get realistic signed message_created bodies (~3 KB, a new message id each) over 50
keep-alive connections. (b) and (c) must answer every request `queued` and store it — a run of
duplicates or errors measures nothing — and the script says so and exits 1 otherwise.

    .venv/bin/python tests/bench/ingest.py [--seconds 8] [--connections 50]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.bench.loadgen import LoadResult, run_load_in_process  # noqa: E402
from tests.support import SECRET, TOKEN, base_env, fixture_event, free_port, signed_headers  # noqa: E402

BARE_APP = """
import sys
from sanic import Sanic
from sanic.response import json
app = Sanic("bare")
@app.post("/webhook")
async def webhook(request):
    return json({"status": "queued"})
app.run(host="127.0.0.1", port=int(sys.argv[1]), single_process=True, access_log=False, motd=False)
"""


def build_requests(port: int, count: int, first_id: int = 10_000_000) -> list[bytes]:
    """Signed message_created bodies of ~3.5 KB, each with its own message and delivery id."""
    template = fixture_event("message_created_incoming")
    # Real WhatsApp payloads carry more: contact attributes, a longer text, custom attributes.
    template["conversation"]["meta"]["sender"]["additional_attributes"] = {
        "city": "São Paulo", "country": "Brasil", "description": "cliente desde 2021 " * 20,
    }
    template["conversation"]["custom_attributes"] = {"pedido": "#48213", "canal": "whatsapp", "vip": True}
    out = []
    for i in range(count):
        payload = dict(template)
        payload["id"] = first_id + i
        payload["content"] = f"Oi! Vocês têm o hidratante facial em estoque? Pedido {i}. " * 3
        body = json.dumps(payload, ensure_ascii=False).encode()
        headers = signed_headers(body, secret=SECRET, delivery=str(uuid.uuid4()))
        lines = [f"POST /webhook?token={TOKEN} HTTP/1.1", f"Host: 127.0.0.1:{port}",
                 f"Content-Length: {len(body)}", "Connection: keep-alive"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        out.append(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    return out


def wait_up(url: str, proc: subprocess.Popen) -> None:
    for _ in range(300):
        if proc.poll() is not None:
            raise SystemExit(f"server exited early ({proc.returncode})")
        try:
            httpx.get(url, timeout=0.5)
            return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise SystemExit(f"server did not start: {url}")


def measure(cmd: list[str], env: dict, port: int, args, pool) -> LoadResult:
    proc = subprocess.Popen(cmd, env=env, cwd=env.get("BENCH_CWD"), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_up(f"http://127.0.0.1:{port}/health", proc)
        # Warm-up with its own ids so the measured run sees only new messages.
        warm = build_requests(port, 300, first_id=1_000)
        pool.submit(run_load_in_process, ("127.0.0.1", port, warm, 10, 1.0)).result()
        requests = build_requests(port, args.max_requests)
        return pool.submit(
            run_load_in_process, ("127.0.0.1", port, requests, args.connections, args.seconds)
        ).result()
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--max-requests", type=int, default=120_000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, ProcessPoolExecutor(max_workers=1) as pool:
        tmp_path = Path(tmp)
        (tmp_path / "bare.py").write_text(BARE_APP)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        port = free_port()
        bare = measure([sys.executable, str(tmp_path / "bare.py"), str(port)], env, port, args, pool)
        # (b) as shipped (LOG_LEVEL=INFO: one line per webhook); (c) the same without that line,
        # to show what the logging costs.
        runs = {}
        for name, level in (("b", "INFO"), ("c", "WARNING")):
            run_dir = tmp_path / name
            run_dir.mkdir()
            port = free_port()
            real_env = {**env, **base_env(run_dir, WEBHOOK_PORT=str(port), LOG_LEVEL=level), "BENCH_CWD": str(run_dir)}
            result = measure([sys.executable, "-m", "app.cli", "serve"], real_env, port, args, pool)
            conn = sqlite3.connect(run_dir / "data" / "chatwootai.db")
            stored = conn.execute("SELECT count(*) FROM events WHERE message_id >= 10000000").fetchone()[0]
            conn.close()
            runs[name] = (level, result, stored)

    body_bytes = len(build_requests(1, 1)[0].split(b"\r\n\r\n", 1)[1])
    print(f"load: {args.connections} connections, {args.seconds:.0f} s each, body {body_bytes} bytes, "
          "new message id per request")
    print(f"(a) bare Sanic route      : {bare.rps:8.0f} req/s  p50 {bare.percentile(50):6.2f} ms  "
          f"p99 {bare.percentile(99):6.2f} ms  answers {bare.statuses} errors {bare.errors}")
    valid = True
    for name, (level, result, stored) in runs.items():
        print(f"({name}) real /webhook, {level:7s}: {result.rps:8.0f} req/s  p50 {result.percentile(50):6.2f} ms  "
              f"p99 {result.percentile(99):6.2f} ms  answers {result.statuses} errors {result.errors}  "
              f"stored {stored}/{result.requests}")
        valid &= set(result.statuses) == {"200 queued"} and not result.errors and stored == result.requests
    real = runs["b"][1]
    print(f"ratio (b)/(a): {real.rps / bare.rps:.2f}   (c)/(a): {runs['c'][1].rps / bare.rps:.2f}   "
          "(goal (b)/(a) >= 0.8; p99 goal < 50 ms)")
    if not valid:
        print("INVALID RUN: not every answer was 200 queued and stored", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
