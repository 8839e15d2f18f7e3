"""The real image on a real Docker engine (docs/architecture.md#processes, issue 8).

Every test here carries the `container` marker and is skipped, with one line saying why, where
no Docker engine answers (.ci/run starts one before the suite). The image is
built once per session with `--build-arg BASE_IMAGE=$BASE_IMAGE` (default python:3.12-slim)
and `NGROK_INSTALL=false`; containers use the host network, so the Chatwoot fake on 127.0.0.1
is reachable from inside and every container gets its own free port.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.settings import SECRETS
from tests.fakes.chatwoot import checked_fake
from tests.secret_scan import remember_secret
from tests.support import ROOT, SECRET, TOKEN, docker_engine_problem, fixture_event, free_port, signed_headers

PREFIX = os.environ.get("CONTAINER_TEST_PREFIX", "chatwootai-test")
BASE_IMAGE = os.environ.get("BASE_IMAGE", "python:3.12-slim")
BOT_TOKEN = "bot-token-container-5e1d"
ADMIN_TOKEN = "admin-token-container-90c4"
BOT_ID = 7


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    mine = [item for item in items if Path(str(item.fspath)).is_relative_to(here)]
    for item in mine:
        item.add_marker(pytest.mark.container)
        # The first build of the image (dependencies included) can take minutes under vfs.
        item.add_marker(pytest.mark.timeout(3600))
    needing_engine = [item for item in mine if "no_engine_needed" not in item.keywords]
    if needing_engine and (problem := docker_engine_problem(buildx=True)):
        skip = pytest.mark.skip(reason=f"container tests need a Docker engine: {problem} "
                                       "(start dockerd with buildx, as .ci/run does)")
        for item in needing_engine:
            item.add_marker(skip)


def docker(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args[:3])} … failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return result


@pytest.fixture(scope="session")
def image() -> Iterator[str]:
    """The appliance image, built once per session (BuildKit; the layer cache makes later builds
    quick). CONTAINER_TEST_IMAGE=tag uses an image built beforehand instead (kept afterwards)."""
    if prebuilt := os.environ.get("CONTAINER_TEST_IMAGE"):
        size = int(docker("image", "inspect", "--format", "{{.Size}}", prebuilt).stdout.strip())
        print(f"\n[container] image {prebuilt} (CONTAINER_TEST_IMAGE, not built here); size {size / 1e6:.0f} MB")
        yield prebuilt
        return
    tag = f"{PREFIX}:{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    build = subprocess.run(
        ["docker", "buildx", "build", "--network", "host", "--build-arg", f"BASE_IMAGE={BASE_IMAGE}",
         "--build-arg", "NGROK_INSTALL=false", "-t", tag, str(ROOT)],
        capture_output=True, text=True, timeout=3000, env={**os.environ, "DOCKER_BUILDKIT": "1"},
    )
    if build.returncode != 0:
        pytest.fail(f"docker build failed ({build.returncode}):\n{build.stderr[-6000:]}")
    size = int(docker("image", "inspect", "--format", "{{.Size}}", tag).stdout.strip())
    print(f"\n[container] image {tag} built in {time.monotonic() - started:.0f} s from {BASE_IMAGE}; "
          f"size {size / 1e6:.0f} MB (goal < 700 MB)")
    yield tag
    docker("image", "rm", "-f", tag, check=False)


class Container:
    """One `docker run -d --network host` of the image, with its own port, name and volume."""

    def __init__(self, image: str, env: dict[str, str], *, volume: str | None = None):
        self.image = image
        self.name = f"{PREFIX}-{uuid.uuid4().hex[:10]}"
        self.volume = volume or f"{self.name}-data"
        given = env.get("WEBHOOK_PORT", "")
        self.port = int(given) if given.isdigit() else free_port()
        self.env = {"WEBHOOK_PORT": str(self.port), **env}
        self.started_at = self.run_returned_at = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def run(self) -> Container:
        args = ["run", "-d", "--network", "host", "--name", self.name, "-v", f"{self.volume}:/data"]
        for key, value in self.env.items():
            args += ["-e", f"{key}={value}"]
        self.started_at = time.monotonic()
        docker(*args, self.image, timeout=600)
        self.run_returned_at = time.monotonic()  # `docker run -d` returns once the container started
        return self

    def state(self) -> dict:
        return json.loads(docker("inspect", "--format", "{{json .State}}", self.name).stdout)

    def health(self) -> str | None:
        return (self.state().get("Health") or {}).get("Status")

    def wait_healthy(self, timeout: float = 120) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.state()
            if state.get("Status") == "exited":
                raise AssertionError(f"container exited {state.get('ExitCode')}:\n{self.logs()[-4000:]}")
            if (state.get("Health") or {}).get("Status") == "healthy":
                return time.monotonic() - self.started_at
            time.sleep(0.2)
        raise AssertionError(f"not healthy after {timeout} s: {self.health()}\n{self.logs()[-4000:]}")

    def wait_exited(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.state()
            if state.get("Status") == "exited":
                return state
            time.sleep(0.1)
        raise AssertionError(f"still running after {timeout} s:\n{self.logs()[-3000:]}")

    def logs(self) -> str:
        out = docker("logs", self.name, check=False)
        return out.stdout + out.stderr

    def exec(self, *command: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess:
        return docker("exec", self.name, *command, timeout=timeout, check=check)

    def python(self, code: str, timeout: float = 60) -> str:
        return self.exec("python3", "-c", code, timeout=timeout).stdout

    def processes(self) -> list[dict]:
        """Every process in the container: pid, uid, command line (from /proc; no ps in the image)."""
        code = (
            "import json, os\n"
            "out = []\n"
            "for pid in filter(str.isdigit, os.listdir('/proc')):\n"
            "    try:\n"
            "        status = open(f'/proc/{pid}/status').read()\n"
            "        cmd = open(f'/proc/{pid}/cmdline', 'rb').read().replace(b'\\0', b' ').decode().strip()\n"
            "    except OSError:\n"
            "        continue\n"
            "    uid = [line.split()[1:] for line in status.splitlines() if line.startswith('Uid:')][0]\n"
            "    rss = [int(line.split()[1]) for line in status.splitlines() if line.startswith('VmRSS:')]\n"
            "    out.append({'pid': int(pid), 'uids': [int(u) for u in uid], 'cmd': cmd, 'rss_kb': rss[0] if rss else 0})\n"
            "print(json.dumps(out))\n"
        )
        return json.loads(self.python(code))

    def program_pids(self, marker: str) -> list[int]:
        """The python processes of one chatwootai program (not its program-output wrapper)."""
        return [p["pid"] for p in self.processes()
                if marker in p["cmd"] and "program-output" not in p["cmd"] and "python" in p["cmd"].split(" ")[0]]

    def post(self, payload: dict, *, delivery: str | None = None) -> dict:
        body = json.dumps(payload).encode()
        r = httpx.post(f"{self.url}/webhook", content=body, params={"token": TOKEN},
                       headers=signed_headers(body, delivery=delivery or str(uuid.uuid4())), timeout=10)
        assert r.status_code == 200, r.text
        return r.json()

    def remove(self) -> None:
        docker("rm", "-f", "-v", self.name, check=False, timeout=600)  # vfs: a full copy to delete
        docker("volume", "rm", "-f", self.volume, check=False, timeout=120)


def incoming(conversation_id: int, message_id: int, text: str) -> dict:
    payload = fixture_event("message_created_incoming")
    payload["id"] = message_id
    payload["content"] = text
    payload["conversation"]["id"] = conversation_id
    payload["conversation"]["status"] = "pending"
    return payload


@pytest.fixture
def chatwoot():
    with checked_fake(user_tokens=(ADMIN_TOKEN,), bot_tokens=(BOT_TOKEN,)) as fake:
        fake.add_agent_bot(BOT_ID)
        yield fake


@pytest.fixture
def appliance_env(chatwoot) -> dict[str, str]:
    """The container's configuration: the Chatwoot fake on the host, a fixed public URL (no
    ngrok in the test image), the agent bot to register."""
    return {
        "WEBHOOK_AUTH_TOKEN": TOKEN,
        "CHATWOOT_WEBHOOK_SECRET": SECRET,
        "CHATWOOT_BASE_URL": chatwoot.url,
        "CHATWOOT_API_KEY": BOT_TOKEN,
        "CHATWOOT_ADMIN_API_KEY": ADMIN_TOKEN,
        "CHATWOOT_ACCOUNT_ID": "1",
        "CHATWOOT_AGENT_BOT_ID": str(BOT_ID),
        "REGISTER_MODE": "agent_bot",
        "PUBLIC_URL": "https://bot.example.test",
        "COALESCE_WINDOW_MS": "0",
        "BUSINESS_HOURS": "mon-sun 00:00-24:00",
    }


@pytest.fixture
def containers(image, tmp_path) -> Iterator[callable]:
    """Start containers of the image; every one (and its volume) is removed at the end, after its
    `docker logs` is kept as `<name>.docker.log` for the end-of-run secret scan."""
    made: list[Container] = []

    def start(env: dict[str, str], *, volume: str | None = None, run: bool = True) -> Container:
        for name in SECRETS:
            remember_secret(name, env.get(name))
        container = Container(image, env, volume=volume)
        made.append(container)
        return container.run() if run else container

    yield start
    for container in made:
        (tmp_path / f"{container.name}.docker.log").write_text(container.logs(), encoding="utf-8")
        container.remove()


