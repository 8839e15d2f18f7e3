"""Shared by the registration and tunnel tests: the tokens, a runner of real `chatwootai`
processes that keeps every output (as *.out files for the session's secret scan), helpers, and
their fixtures (`chatwoot` with an agent bot, `agent`, `register`), which both modules import:
the integration conftest's `chatwoot` has no agent bot."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from app.settings import SECRETS as SECRET_VARIABLES
from tests.fakes.chatwoot import checked_fake
from tests.fakes.ngrok import NgrokApiFake
from tests.secret_scan import remember_secret
from tests.support import base_env

# Tokens with every character that URL encoding, shells and log formats treat specially.
WEBHOOK_TOKEN = "wh+tok/en=~%20 x"
ADMIN_TOKEN = "adm+in/tok=~%41 y"
BOT_TOKEN = "bot-token-reg-2b7"
NGROK_TOKEN = "ng+rok/tok=~%2F z"
SECRETS = (WEBHOOK_TOKEN, ADMIN_TOKEN, NGROK_TOKEN)
BOT_ID = 5
PORT = 18001  # the web port the tunnel points at; nothing needs to listen there
FIRST, SECOND = "https://a1b2c3.ngrok-free.app", "https://d4e5f6.ngrok-free.app"


def expected(public_url: str) -> str:
    return f"{public_url}/webhook?token={quote(WEBHOOK_TOKEN, safe='')}"


class Register:
    """Runs `chatwootai <args>` with the test's environment; keeps every output for the leak check."""

    def __init__(self, tmp: Path, chatwoot, agent, **env: str):
        self.tmp = tmp
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("WEBHOOK_", "CHATWOOT_", "LLM_", "NGROK_", "PUBLIC_URL", "REGISTER_"))}
        self.env.update(base_env(
            tmp,
            WEBHOOK_PORT=str(PORT),
            WEBHOOK_AUTH_TOKEN=WEBHOOK_TOKEN,
            CHATWOOT_BASE_URL=chatwoot.url,
            CHATWOOT_ACCOUNT_ID="1",
            CHATWOOT_API_KEY=BOT_TOKEN,
            CHATWOOT_ADMIN_API_KEY=ADMIN_TOKEN,
            CHATWOOT_AGENT_BOT_ID=str(BOT_ID),
            NGROK_AUTH_TOKEN=NGROK_TOKEN,
            NGROK_API_URL=agent.url,
            LOG_LEVEL="DEBUG",
        ))
        self.env.update(env)
        self.env["PYTHONUNBUFFERED"] = "1"
        for name in SECRET_VARIABLES:  # the session's secret scan searches every *.out for them
            remember_secret(name, self.env.get(name))
        self.outputs: list[str] = []
        self.procs: list[subprocess.Popen] = []

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        done = subprocess.run([sys.executable, "-m", "app.cli", *args], env=self.env, cwd=self.tmp,
                              capture_output=True, text=True, timeout=timeout)
        self.outputs += [done.stdout, done.stderr]
        out = self.tmp / f"{args[0]}-run-{len(self.outputs)}.out"
        out.write_text(f"{done.stdout}\n--- stderr ---\n{done.stderr}", encoding="utf-8")
        return done

    def start(self, *args: str) -> tuple[subprocess.Popen, Path]:
        log = self.tmp / f"{args[0]}-{len(self.procs)}.out"
        with log.open("wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", "app.cli", *args], env=self.env, cwd=self.tmp,
                                    stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(proc)
        return proc, log

    def stop(self, proc: subprocess.Popen, log: Path) -> int:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        self.outputs.append(log.read_text(errors="replace"))
        return proc.returncode

    def public_url_file(self) -> str | None:
        path = self.tmp / "data" / "public_url"
        return path.read_text().strip() if path.exists() else None

    def kill_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)

    def all_output(self) -> str:
        files = [p.read_text(errors="replace") for p in (self.tmp / "logs").glob("*") if p.is_file()]
        return "\n".join(self.outputs + files)


def patches(chatwoot, path_part: str = "/agent_bots/") -> list:
    return [r for r in chatwoot.requests if r.method == "PATCH" and path_part in r.path]


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        for form in {secret, quote(secret, safe=""), quote_plus(secret, safe=""), quote(secret)}:
            assert form not in text, f"a token (form {form!r}) leaked into the output"


@pytest.fixture(name="chatwoot")
def chatwoot_with_agent_bot():
    with checked_fake(user_tokens=(ADMIN_TOKEN,), bot_tokens=(BOT_TOKEN,)) as fake:
        fake.add_agent_bot(BOT_ID, outgoing_url="https://old.example.com/webhook")
        yield fake


@pytest.fixture(name="agent")
def ngrok_agent():
    with NgrokApiFake() as fake:
        yield fake


@pytest.fixture(name="register")
def register_runner(tmp_path, chatwoot, agent):
    made: list[Register] = []

    def make(**env: str) -> Register:
        made.append(Register(tmp_path, chatwoot, agent, **env))
        return made[-1]

    yield make
    for reg in made:
        reg.kill_all()
