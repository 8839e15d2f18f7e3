"""Where the door's time goes: the real `chatwootai serve` under cProfile, driven by the ingest
bench's load generator with the same signed ~3 KB bodies, then a per-function summary.

cProfile adds a fixed cost to every Python call, so its absolute times run high; read the shares
(which functions, in what proportion), and the ingest bench for the figures.

    .venv/bin/python tests/bench/profile_door.py [--seconds 6] [--connections 50] [--sort tottime] [--top 40]
    .venv/bin/python tests/bench/profile_door.py --bare   # the same for the bench's bare Sanic route
"""

from __future__ import annotations

import argparse
import io
import os
import pstats
import signal
import subprocess
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.bench.ingest import BARE_APP, build_requests, wait_up  # noqa: E402
from tests.bench.loadgen import run_load_in_process  # noqa: E402
from tests.support import base_env, free_port  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--sort", default="tottime", choices=["tottime", "cumulative"])
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--bare", action="store_true", help="profile the bench's bare Sanic route instead")
    parser.add_argument("--level", default="INFO", help="LOG_LEVEL of the real server")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, ProcessPoolExecutor(max_workers=1) as pool:
        tmp_path = Path(tmp)
        port = free_port()
        out = tmp_path / "door.prof"
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        if args.bare:
            (tmp_path / "bare.py").write_text(BARE_APP)
            target = [str(tmp_path / "bare.py"), str(port)]
            # The bare app has no /health: any answer on the port says it is up.
            health = f"http://127.0.0.1:{port}/webhook"
        else:
            env.update(base_env(tmp_path, WEBHOOK_PORT=str(port), LOG_LEVEL=args.level))
            target = ["-m", "app.cli", "serve"]
            health = f"http://127.0.0.1:{port}/health"
        proc = subprocess.Popen([sys.executable, "-m", "cProfile", "-o", str(out), *target], env=env, cwd=tmp,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_up(health, proc)
            requests = build_requests(port, 120_000)
            pool.submit(run_load_in_process, ("127.0.0.1", port, requests[:300], 10, 1.0)).result()
            result = pool.submit(run_load_in_process,
                                 ("127.0.0.1", port, requests[300:], args.connections, args.seconds)).result()
        finally:
            proc.send_signal(signal.SIGINT)  # Sanic stops cleanly; cProfile writes its file on exit
            proc.wait(timeout=60)
        print(f"{'bare route' if args.bare else 'real /webhook'} under cProfile: {result.requests} requests in "
              f"{result.seconds:.1f} s ({result.rps:.0f} req/s), answers {result.statuses}")
        stats = pstats.Stats(str(out), stream=(buf := io.StringIO()))
        total = stats.total_tt  # type: ignore[attr-defined]
        print(f"profiled CPU: {total:.2f} s = {total / max(result.requests, 1) * 1e6:.0f} us per request "
              f"(includes start-up and cProfile's own overhead)")
        stats.strip_dirs().sort_stats(args.sort).print_stats(args.top)
        print(buf.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
