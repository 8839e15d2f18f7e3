"""A small forwarding proxy: `forwarder.py [--config FILE] [--port N]`.

Reads UPSTREAM_URL from the config file once, at start, and forwards every request (method,
path, query, headers, body) to it, answering with the upstream's answer. GET /__proxy__ answers
with the upstream it uses, so tests can see what a running proxy forwards to.
"""

import argparse
import http.client
import json
import os
import re
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "host", "content-length"}


def read_upstream(path: str) -> str:
    with open(path, encoding="utf-8") as fh:
        match = re.search(r"https?://[^\s'\";]+", fh.read())
    if not match:
        sys.exit(f"forwarder: no upstream URL in {path}")
    return match.group(0).rstrip("/")


def make_handler(upstream: str):
    target = urlsplit(upstream)

    class Forward(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self, status: int, body: bytes, headers=()) -> None:
            self.send_response(status)
            for name, value in headers:
                if name.lower() not in HOP_BY_HOP:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _forward(self) -> None:
            if self.path == "/__proxy__":
                self._answer(200, json.dumps({"upstream": upstream}).encode(), [("Content-Type", "application/json")])
                return
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            conn_cls = http.client.HTTPSConnection if target.scheme == "https" else http.client.HTTPConnection
            conn = conn_cls(target.hostname, target.port, timeout=10)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            try:
                conn.request(self.command, (target.path.rstrip("/") + self.path) or "/", body=body, headers=headers)
                resp = conn.getresponse()
                self._answer(resp.status, resp.read(), resp.getheaders())
            except OSError as exc:
                self._answer(502, f"upstream {upstream} unreachable: {exc}".encode())
            finally:
                conn.close()

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

    return Forward


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", default="/srv/proxy/upstream.py")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PROXY_PORT", "8080")))
    args = parser.parse_args()
    upstream = read_upstream(args.config)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(upstream))
    # PID 1 in a container ignores SIGTERM unless it handles it: without this, docker restart
    # would wait its full grace period.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"forwarder: listening on 127.0.0.1:{args.port}, forwarding to {upstream}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
