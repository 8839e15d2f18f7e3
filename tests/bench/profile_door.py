"""Where the door's CPU goes, per request and by part: py-spy samples a real server under the
ingest bench's load (the same signed ~3 KB bodies, 50 connections), and each sample is charged to
the innermost part it is in (SQLite, orjson, validation, logs, Sanic's HTTP work, ...).

    .venv/bin/python tests/bench/profile_door.py [real|floor|bare] [--seconds 6] [--top 25]

  real   `chatwootai serve` at LOG_LEVEL=INFO, as shipped (the default)
  floor  ingest.py's (d): Sanic + HMAC + orjson + the group-commit writer, nothing else
  bare   ingest.py's (a): the bare Sanic route

py-spy (the test extra) reads the process from outside: the server runs at its own speed, unlike
under cProfile, whose per-call cost inflates Python-heavy parts. It needs ptrace on the server
(root, or kernel.yama.ptrace_scope=0). Samples of the checkpoint thread are included: its CPU is
the server's too. Figures move with the load on the machine; compare parts within one run.
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.bench.ingest import BARE_APP, FLOOR_APP, build_requests, wait_up  # noqa: E402
from tests.bench.loadgen import run_load_in_process  # noqa: E402
from tests.support import SECRET, base_env, free_port  # noqa: E402

RATE_HZ = 1000
# A sample is charged to the first part whose marker is in one of its frames, innermost first.
PARTS = (
    ("SQLite checkpoint (thread)", "_checkpoint"),
    ("SQLite insert + commit", "insert_batch"),
    ("log lines, metrics (commit hook)", "log_commit"),
    ("worker wake-up datagram", "WakeSender.wake"),
    ("group-commit writer", "GroupCommitWriter"),
    ("validation (read_envelope)", "read_envelope"),
    ("signature + token", "WebhookVerifier"),
    ("body read (stream)", "read_body"),
    ("policy (classify)", "classify"),
    ("handler: orjson.loads", "receive (app/web/webhook.py:{orjson_line})"),
    ("handler: other lines", "receive (app/web/webhook.py"),
    ("handler (floor / bare)", "webhook (server.py"),
    ("Sanic: response write (socket send)", "send (send"),
    ("Sanic: response headers", "http1_response_header"),
    ("Sanic: request line + headers", "http1_request_header"),
    ("Sanic: request dispatch", "handle_request"),
    ("Sanic: connection loop", "http1"),
)


def orjson_line() -> int:
    source = (ROOT / "app" / "web" / "webhook.py").read_text().splitlines()
    return next(i for i, line in enumerate(source, 1) if "orjson.loads(body)" in line)


def summarize(raw: Path, requests: int, top: int) -> None:
    parts = [(name, marker.format(orjson_line=orjson_line())) for name, marker in PARTS]
    by_part: collections.Counter[str] = collections.Counter()
    by_line: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        total += n
        frames = stack.split(";")  # py-spy names files relative to sys.path: app/web/webhook.py
        by_line[frames[-1]] += n
        for frame in reversed(frames):
            part = next((name for name, marker in parts if marker in frame), None)
            if part:
                by_part[part] += n
                break
        else:
            by_part["event loop, other"] += n
    us = 1e6 / RATE_HZ / max(requests, 1)
    print(f"{total} samples at {RATE_HZ} Hz over {requests} requests: {total * us:.0f} us of CPU per request")
    for name, n in by_part.most_common():
        print(f"  {name:38s} {n / total * 100:5.1f}%  {n * us:6.1f} us/req")
    print(f"top {top} lines (own time):")
    for frame, n in by_line.most_common(top):
        print(f"  {n * us:6.1f} us/req  {frame}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("server", nargs="?", default="real", choices=["real", "floor", "bare"])
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        print("py-spy not found: install the test extra (make .venv/.installed-test)", file=sys.stderr)
        return 2

    with tempfile.TemporaryDirectory() as tmp, ProcessPoolExecutor(max_workers=1) as pool:
        tmp_path, port = Path(tmp), free_port()
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        (tmp_path / "data").mkdir()
        if args.server == "real":
            env.update(base_env(tmp_path, WEBHOOK_PORT=str(port), LOG_LEVEL="INFO"))
            command = [sys.executable, "-m", "app.cli", "serve"]
        else:
            (tmp_path / "server.py").write_text(BARE_APP if args.server == "bare" else FLOOR_APP)
            command = [sys.executable, str(tmp_path / "server.py"), str(port), SECRET,
                       str(tmp_path / "data" / "chatwootai.db")]
        server = subprocess.Popen(command, env=env, cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            # The bare app has no /health: any answer on its port says it is up.
            wait_up(f"http://127.0.0.1:{port}/{'webhook' if args.server == 'bare' else 'health'}", server)
            requests = build_requests(port, 150_000)
            pool.submit(run_load_in_process, ("127.0.0.1", port, requests[:500], 10, 1.0)).result()
            raw = tmp_path / "samples.txt"
            spy = subprocess.Popen([py_spy, "record", "--pid", str(server.pid), "--duration", str(int(args.seconds)),
                                    "--rate", str(RATE_HZ), "--format", "raw", "--output", str(raw), "--nonblocking"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            result = pool.submit(run_load_in_process, ("127.0.0.1", port, requests[500:], args.connections,
                                                       args.seconds)).result()
            _, err = spy.communicate(timeout=60)
            if spy.returncode != 0 or not raw.exists():
                print(f"py-spy failed ({spy.returncode}): {err.strip()[-300:]}", file=sys.stderr)
                return 2
        finally:
            server.terminate()
            server.wait(timeout=30)
        print(f"{args.server}: {result.requests} requests in {result.seconds:.1f} s ({result.rps:.0f} req/s), "
              f"answers {result.statuses}")
        summarize(raw, result.requests, args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
