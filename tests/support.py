"""Test support: build settings, sign bodies, start the real programs on a free port."""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

from app.chatwoot.signing import sign
from app.settings import SECRETS
from tests.secret_scan import remember_secret

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
SECRET = "whsec-test-3f9a1c"
TOKEN = "tok-test-8d2e7b"


def fixture_event(name: str) -> dict:
    return json.loads((FIXTURES / "events" / f"{name}.json").read_text(encoding="utf-8"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def signed_headers(body: bytes, *, secret: str = SECRET, timestamp: int | None = None,
                   delivery: str | None = None) -> dict[str, str]:
    ts = int(time.time()) if timestamp is None else timestamp
    headers = {
        "Content-Type": "application/json",
        "X-Chatwoot-Timestamp": str(ts),
        "X-Chatwoot-Signature": sign(secret, ts, body),
    }
    if delivery:
        headers["X-Chatwoot-Delivery"] = delivery
    return headers


def base_env(tmp: Path, **extra: str) -> dict[str, str]:
    env = {
        "DATA_DIR": str(tmp / "data"),
        "LOG_DIR": str(tmp / "logs"),
        "WEBHOOK_HOST": "127.0.0.1",
        "CHATWOOT_WEBHOOK_SECRET": SECRET,
        "WEBHOOK_AUTH_TOKEN": TOKEN,
        "COALESCE_WINDOW_MS": "0",
    }
    env.update(extra)
    return env


class Program:
    """A real `chatwootai <command>` process with its own environment, in its own session."""

    def __init__(self, command: str, env: Mapping[str, str], *, cwd: Path, port: int | None = None):
        self.command, self.cwd, self.port = command, cwd, port
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("WEBHOOK_", "CHATWOOT_", "LLM_"))}
        self.env.update(env)
        self.env["PYTHONUNBUFFERED"] = "1"
        for name in SECRETS:
            remember_secret(name, self.env.get(name))
        self.log = cwd / f"{command}-{int(time.time() * 1000)}.out"
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait_ready: bool = True) -> Program:
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "app.cli", self.command],
                cwd=self.cwd, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )
        if wait_ready and self.port:
            self.wait_http("/health")
        return self

    def wait_http(self, path: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc and self.proc.poll() is not None:
                raise RuntimeError(f"{self.command} exited {self.proc.returncode}:\n{self.output()}")
            try:
                if httpx.get(self.url + path, timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"{self.command} did not answer {path}:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            self.proc.wait(timeout=20)

    def stop(self) -> int | None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.proc.returncode if self.proc else None


def commit_decision(db_path: Path, decision, account_id: int = 1, conversation_id: int = 1) -> None:  # noqa: ANN001
    """What the worker does with a hub's decision, for tests that call the hub directly: its memory
    and (a reply's) bookings committed in one transaction (`outbox.commit_turn`, no turn row)."""
    from app.store import conversations, outbox
    from app.worker.loop import open_worker_store

    conn = open_worker_store(db_path)
    try:
        state = conversations.load(conn, account_id, conversation_id)
        outbox.commit_turn(conn, None, [], [], state, memory=[decision.memory] if decision.memory else [],
                           bookings=decision.bookings if decision.action == "reply" else ())
    finally:
        conn.close()


@functools.cache
def docker_engine_problem(*, buildx: bool = False) -> str | None:
    """Why no Docker engine can be used (the container and Ansible tests skip with it), or None
    when one answers; with `buildx`, the buildx plugin the image builds need is checked too."""
    if shutil.which("docker") is None:
        return "no docker CLI on PATH"
    try:
        probe = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"], capture_output=True,
                               text=True, timeout=20)
    except subprocess.TimeoutExpired:
        return "`docker info` did not answer in 20 s"
    if probe.returncode != 0:
        return (probe.stderr.strip().splitlines() or ["`docker info` failed"])[-1]
    if buildx:
        plugin = subprocess.run(["docker", "buildx", "version"], capture_output=True, text=True, timeout=20)
        if plugin.returncode != 0:
            return "the docker buildx plugin is missing (DOCKER_CONFIG from `docker-lab env` points to it)"
    return None


def wait_until(predicate, timeout: float = 30.0, what: str = "condition", *, every: float = 0.05):  # noqa: ANN001
    """Poll `predicate()` until it returns something true, and return that; AssertionError naming
    `what` after `timeout` seconds. (The reliability harness's own `wait_until` returns how long
    it took instead, for its figures.)"""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
