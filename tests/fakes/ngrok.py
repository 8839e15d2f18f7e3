"""An ngrok agent fake: a real HTTP server on loopback serving the agent's local API.

In-process, for `chatwootai register` tests — the test sets, changes and removes tunnels:
    with NgrokApiFake() as agent:                 # port 0: a free port
        agent.set_tunnel("https://a1.ngrok-free.app", port=8001)
        ... NGROK_API_URL=agent.url ...
        agent.set_tunnel("https://b2.ngrok-free.app", port=8001)   # ngrok restarted
        agent.clear()                                               # agent gone quiet

As an executable standing in for the ngrok binary, for `chatwootai tunnel` tests
(`write_fake_agent(dir)` writes the script; NGROK_PATH points at it). It does what pyngrok
needs from the real agent: reads `--config` (agent.web_addr, agent.authtoken), serves the API
there, prints the logfmt start-up lines pyngrok waits for, and creates tunnels on
`POST /api/tunnels`. An authtoken of `bad-token` fails like a refused session. With
`FAKE_NGROK_RECORD=path` it writes its pid, argv and config there (JSON) for the test.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


class NgrokApiFake:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, domain: str | None = None):
        self.domain = domain
        self.tunnels: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.RLock()  # answer() holds it while _create() calls set_tunnel()
        self._server = ThreadingHTTPServer((host, port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def addr(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    def start(self) -> NgrokApiFake:
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(5)
        self._server.server_close()

    def __enter__(self) -> NgrokApiFake:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what the test controls ------------------------------------------------------
    def set_tunnel(self, public_url: str, *, port: int, name: str = "chatwoot") -> None:
        """Add or replace the tunnel `name`, as the agent lists it."""
        proto = public_url.split("://", 1)[0]
        tunnel = {
            "name": name,
            "ID": uuid.uuid4().hex,
            "uri": f"/api/tunnels/{name}",
            "public_url": public_url,
            "proto": proto,
            "config": {"addr": f"http://localhost:{port}", "inspect": True},
            "metrics": {"conns": {"count": 0}, "http": {"count": 0}},
        }
        with self._lock:
            self.tunnels[name] = tunnel

    def clear(self) -> None:
        with self._lock:
            self.tunnels.clear()

    # -- the API ---------------------------------------------------------------------
    def answer(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        with self._lock:
            self.requests.append((method, path))
            if method == "GET" and path == "/api/tunnels":
                return 200, {"tunnels": list(self.tunnels.values()), "uri": "/api/tunnels"}
            if method == "GET" and path == "/api/endpoints":
                return 200, {"endpoints": [], "uri": "/api/endpoints"}
            if method == "POST" and path == "/api/tunnels":
                return self._create(body if isinstance(body, dict) else {})
            if path.startswith("/api/tunnels/"):
                name = path.rsplit("/", 1)[1]
                if name not in self.tunnels:
                    return 404, {"error_code": 100, "status_code": 404, "msg": "Tunnel not found"}
                if method == "DELETE":
                    del self.tunnels[name]
                    return 204, None
                return 200, self.tunnels[name]
        return 404, {"error_code": 100, "status_code": 404, "msg": "not found"}

    def _create(self, body: dict[str, Any]) -> tuple[int, Any]:
        # ngrok answers what it would list; a free account gets a random host per session.
        name = str(body.get("name") or "tunnel")
        domain = body.get("domain") or self.domain or f"{uuid.uuid4().hex[:12]}.ngrok-free.app"
        addr = str(body.get("addr", "80"))
        port = int(addr.rsplit(":", 1)[-1])
        self.set_tunnel(f"https://{domain}", port=port, name=name)
        return 201, self.tunnels[name]


def _handler_for(fake: NgrokApiFake) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = None
            status, answer = fake.answer(self.command, self.path.split("?", 1)[0], body)
            data = b"" if answer is None else json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_DELETE = do_PUT = _serve

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    return Handler


# -- the fake agent executable ----------------------------------------------------------
def write_fake_agent(directory: Path) -> Path:
    """An executable `ngrok` in `directory` that runs this module's agent mode."""
    path = Path(directory) / "ngrok"
    path.write_text(
        "#!/bin/sh\n"
        f"PYTHONPATH='{ROOT}' exec '{sys.executable}' -m tests.fakes.ngrok \"$@\"\n",
        encoding="utf-8",
    )
    path.chmod(0o755)
    return path


def _log(level: str, msg: str, **fields: str) -> None:
    extra = " ".join(f"{k}={v}" for k, v in fields.items())
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S+0000", time.gmtime())
    print(f't={stamp} lvl={level} msg="{msg}" {extra}'.rstrip(), flush=True)


def agent_main(argv: list[str]) -> int:
    import yaml

    if not argv or argv[0] != "start":
        print("fake ngrok: only `start` is implemented", file=sys.stderr)
        return 2
    config_path = argv[argv.index("--config") + 1] if "--config" in argv else None
    config = yaml.safe_load(Path(config_path).read_text(encoding="utf-8")) if config_path else {}
    agent = (config or {}).get("agent") or {}
    record = os.environ.get("FAKE_NGROK_RECORD")
    if record:
        Path(record).write_text(json.dumps({"pid": os.getpid(), "argv": argv, "config": config}), encoding="utf-8")
    host, _, port = str(agent.get("web_addr", "127.0.0.1:4040")).rpartition(":")
    fake = NgrokApiFake(host or "127.0.0.1", int(port)).start()
    _log("info", "starting web service", obj="web", addr=fake.addr, allow_hosts="[]")
    if agent.get("authtoken") in (None, "", "bad-token"):
        _log("eror", "session closing", obj="tunnels.session",
             err='"authentication failed: The authtoken you specified does not look like a proper ngrok tunnel '
                 'authtoken."')
        fake.stop()
        return 1
    _log("info", "tunnel session started", obj="tunnels.session")
    _log("info", "client session established", obj="csess", id=uuid.uuid4().hex[:12])
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    done.wait()
    fake.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(agent_main(sys.argv[1:]))
