"""Where the door's CPU goes: the real `chatwootai serve` under cProfile, driven by the ingest
bench's load generator with its signed ~3 KB message_created bodies.

    .venv/bin/python tests/bench/profile_ingest.py [--seconds 6] [--top 30] [--level INFO]

Prints the functions with the most own time, and the share of the run spent under the
/webhook handler. cProfile slows everything down by about 2x, so read the shares, not the rates.
"""

from __future__ import annotations

import argparse
import os
import pstats
import shutil
import signal
import subprocess
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.bench.ingest import build_requests, wait_up  # noqa: E402
from tests.bench.loadgen import run_load_in_process  # noqa: E402
from tests.support import base_env, free_port  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--level", default="INFO")
    parser.add_argument("--keep", help="copy the profile to this path (for pstats)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, ProcessPoolExecutor(max_workers=1) as pool:
        run_dir = Path(tmp)
        port = free_port()
        out = run_dir / "serve.prof"
        env = {**os.environ, "PYTHONPATH": str(ROOT), **base_env(run_dir, WEBHOOK_PORT=str(port), LOG_LEVEL=args.level)}
        proc = subprocess.Popen([sys.executable, "-m", "cProfile", "-o", str(out), "-m", "app.cli", "serve"],
                                env=env, cwd=run_dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_up(f"http://127.0.0.1:{port}/health", proc)
            requests = build_requests(port, 60_000)
            result = pool.submit(run_load_in_process,
                                 ("127.0.0.1", port, requests, args.connections, args.seconds)).result()
        finally:
            proc.send_signal(signal.SIGINT)  # Sanic stops cleanly, so cProfile writes its file
            proc.wait(timeout=60)
        print(f"{result.requests} requests in {result.seconds:.1f} s under cProfile ({result.rps:.0f} req/s), "
              f"answers {result.statuses}")
        stats = pstats.Stats(str(out))
        total = stats.total_tt
        handler = [v for k, v in stats.stats.items() if k[2] == "receive" and k[0].endswith("webhook.py")]
        if handler:
            print(f"time under the /webhook handler: {handler[0][3] / total:.0%} of {total:.1f} s")
        if args.keep:
            shutil.copy(out, args.keep)
        stats.sort_stats("tottime").print_stats(args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
