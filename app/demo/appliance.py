"""The demo's appliance: the real web and worker programs on free ports, a temporary data
directory, fresh secrets, and the built-in Chatwoot simulator in this process.

The programs run from the temporary directory with an environment built here — none of the
operator's Chatwoot, tunnel or VPS settings reach them (a stray CHATWOOT_BASE_URL must never
send demo replies to a real Chatwoot); only LLM_* (and KNOWLEDGE_DIR) are passed on.
"""

from __future__ import annotations

import os
import queue
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from app.demo.chatwoot_sim import ChatwootSimulator
from app.ops.payloads import post_webhook
from app.settings import Settings, read_dotenv

ACCOUNT_ID = 1
# Every variable the appliance reads starts with one of these (SPEC §4): none is inherited.
_SETTING_PREFIXES = ("WEBHOOK_", "CHATWOOT_", "REGISTER_", "NGROK_", "PUBLIC_URL", "VPS_", "PROXY_",
                     "AUTO_UPDATE_PROXY", "LLM_", "BOT_", "COALESCE_", "HANDOFF_", "BUSINESS_", "KNOWLEDGE_DIR",
                     "WORKER_", "DATA_DIR", "LOG_", "RETENTION_")
_PASSED_ON = ("LLM_", "KNOWLEDGE_DIR", "BOT_LANGUAGE", "BOT_NAME")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def operator_choices(environ: dict[str, str] | None = None, dotenv: Path = Path(".env")) -> dict[str, str]:
    """The operator's LLM_* (and knowledge) settings, from `.env` and the environment."""
    merged = dict(read_dotenv(dotenv)) if dotenv.is_file() else {}
    merged.update(os.environ if environ is None else environ)
    return {k: v for k, v in merged.items() if k.startswith(_PASSED_ON) and v.strip()}


class PortTaken(Exception):
    """The web program could not bind its port."""


class DemoAppliance:
    def __init__(self, choices: dict[str, str]):
        self.tmp = Path(tempfile.mkdtemp(prefix="chatwootai-demo-"))
        self.port = free_port()
        self.api_token = secrets.token_urlsafe(24)
        self.webhooks: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.sim = ChatwootSimulator(self.api_token, account_id=ACCOUNT_ID, on_webhook=self.webhooks.put)
        self.env_vars = {
            "WEBHOOK_HOST": "127.0.0.1",
            "WEBHOOK_PORT": str(self.port),
            "WEBHOOK_AUTH_TOKEN": secrets.token_urlsafe(24),
            "CHATWOOT_WEBHOOK_SECRET": secrets.token_urlsafe(24),
            "CHATWOOT_API_KEY": self.api_token,
            "CHATWOOT_ACCOUNT_ID": str(ACCOUNT_ID),
            "COALESCE_WINDOW_MS": "200",
            "BUSINESS_HOURS": "mon-sun 00:00-24:00",  # the demo's humans never sleep
            "DATA_DIR": str(self.tmp / "data"),
            "LOG_DIR": str(self.tmp / "logs"),
            **choices,
        }
        self.settings: Settings | None = None
        self.web: subprocess.Popen | None = None
        self.worker: subprocess.Popen | None = None
        self._poster: threading.Thread | None = None

    def start(self, timeout: float = 90.0) -> None:
        self.sim.start()
        self.env_vars["CHATWOOT_BASE_URL"] = self.sim.url
        self.worker = self._spawn("worker")
        for attempt in range(3):
            self.settings = Settings.from_env(self.env_vars)
            self.web = self._spawn("serve")
            try:
                self._wait_ready(timeout)
                break
            except PortTaken:
                # Another program took the free port between our probe and the bind: pick again.
                self.port = free_port()
                self.env_vars["WEBHOOK_PORT"] = str(self.port)
                if attempt == 2:
                    raise RuntimeError("no free port for the web program after 3 tries") from None
        self._poster = threading.Thread(target=self._post_webhooks, name="demo-webhooks", daemon=True)
        self._poster.start()

    def _spawn(self, command: str) -> subprocess.Popen:
        env = {k: v for k, v in os.environ.items() if not k.startswith(_SETTING_PREFIXES)}
        env.update(self.env_vars)
        env["PYTHONUNBUFFERED"] = "1"
        out = (self.tmp / f"{command}.out").open("wb")
        try:
            # Own session: /quit stops the program and anything it started, and a Ctrl-C typed
            # in the demo's terminal reaches only the demo, which then stops them in order.
            return subprocess.Popen([sys.executable, "-m", "app.cli", command], cwd=self.tmp, env=env,
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        finally:
            out.close()

    def _wait_ready(self, timeout: float) -> None:
        url = f"http://127.0.0.1:{self.port}/ready"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, proc in (("web", self.web), ("worker", self.worker)):
                if proc is not None and proc.poll() is not None:
                    if name == "web" and "address already in use" in self.output("web").lower():
                        raise PortTaken()
                    raise RuntimeError(f"the {name} program exited ({proc.returncode}):\n{self.output(name)[-2000:]}")
            try:
                checks = httpx.get(url, timeout=2).json().get("checks", {})
                if isinstance(checks.get("worker"), dict):
                    return
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the appliance did not become ready in {timeout:.0f} s:\n{self.output('worker')[-2000:]}")

    def output(self, name: str) -> str:
        path = self.tmp / f"{'serve' if name == 'web' else name}.out"
        return path.read_text(errors="replace") if path.exists() else ""

    def post(self, payload: dict[str, Any]) -> dict[str, Any]:
        assert self.settings is not None
        response = post_webhook(self.settings, payload)
        try:
            return response.json()
        except ValueError:
            return {"status": f"HTTP {response.status_code}"}

    def _post_webhooks(self) -> None:
        """What Chatwoot would send back (the bot's own messages, status changes), in order."""
        while True:
            payload = self.webhooks.get()
            if payload is None:
                return
            try:
                self.post(payload)
            except httpx.HTTPError:
                pass  # the programs are stopping

    @property
    def pids(self) -> dict[str, int]:
        return {name: p.pid for name, p in (("web", self.web), ("worker", self.worker)) if p is not None}

    def stop(self) -> None:
        """Worker first (it drains its turns), then web; then the simulator and the files."""
        self.webhooks.put(None)
        for proc in (self.worker, self.web):
            _terminate(proc)
        self.sim.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


def _terminate(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    except ProcessLookupError:
        pass
