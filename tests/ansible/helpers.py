"""Helpers for the Ansible tests: docker, the proxy container, running the playbook."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from tests.support import ROOT, free_port

IMAGES = Path(__file__).parent / "images"
PROXY_IMAGE = "ansible-proxy-test"
SSHD_IMAGE = "ansible-sshd-test"
PROXY_FILE = "/srv/proxy/upstream.py"
OLD_URL = "https://old-tunnel.example.invalid"
ORIGINAL_FILE = IMAGES / "proxy" / "upstream.py"
PLAYBOOK = ROOT / "ansible" / "update_proxy.yml"
# Ansible's own state (remote tmp, collections cache) kept out of the developer's ~/.ansible.
ANSIBLE_HOME = str(Path(tempfile.gettempdir()) / "ansible-tests-home")


def docker(*args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done


def base_image() -> str:
    if os.environ.get("BASE_IMAGE"):
        return os.environ["BASE_IMAGE"]
    local = "local/python:3.11-slim"  # docker-lab's stand-in when no registry answers
    return local if docker("image", "inspect", local, check=False).returncode == 0 else "python:3.11-slim"


def build(tag: str, context: Path) -> str:
    docker("build", "-q", "--network", "host", "--build-arg", f"BASE_IMAGE={base_image()}", "-t", tag, str(context))
    return tag


class ProxyContainer:
    """A running forwarding proxy container: `ansible-proxy-<id>` on its own port."""

    def __init__(self, image: str):
        self.name = f"ansible-proxy-{uuid.uuid4().hex[:10]}"
        self.port = free_port()
        docker("run", "-d", "--name", self.name, "--network", "host", "-e", f"PROXY_PORT={self.port}", image)
        self.wait_answering()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_answering(self, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                return httpx.get(f"{self.url}/__proxy__", timeout=2).json()["upstream"]
            except (httpx.HTTPError, ValueError):
                time.sleep(0.2)
        raise TimeoutError(f"proxy {self.name} did not answer:\n{docker('logs', self.name, check=False).stderr}")

    def state(self) -> dict:
        return json.loads(docker("container", "inspect", self.name).stdout)[0]["State"]

    def file(self) -> str:
        return docker("exec", self.name, "cat", PROXY_FILE).stdout

    def reset(self) -> None:
        """Back to the image's file, running: one container serves every test (under the vfs
        storage driver creating and removing a container costs seconds of copying)."""
        running = self.state()["Running"]
        if running and self.file() == ORIGINAL_FILE.read_text(encoding="utf-8"):
            return
        docker("cp", str(ORIGINAL_FILE), f"{self.name}:{PROXY_FILE}")
        docker("restart", "-t", "2", self.name)
        self.wait_answering()

    def set_root_password(self, password: str) -> None:
        done = subprocess.run(["docker", "exec", "-i", self.name, "chpasswd"], input=f"root:{password}\n",
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr

    def remove(self) -> None:
        docker("rm", "-f", self.name, check=False)


class Run:
    def __init__(self, done: subprocess.CompletedProcess):
        self.returncode, self.output = done.returncode, done.stdout + done.stderr
        recap = re.search(r"^vps\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", self.output, re.M)
        self.changed = int(recap.group(2)) if recap else None
        self.failed = int(recap.group(4)) if recap else None

    def __repr__(self) -> str:
        return f"<playbook exit {self.returncode}>\n{self.output}"


def playbook_env(**env: str) -> dict[str, str]:
    """The environment an operator's shell would have: no stray settings from the test run."""
    keep = {k: v for k, v in os.environ.items()
            if not k.startswith(("VPS_", "PROXY_", "PUBLIC_URL", "WEBHOOK_", "ANSIBLE_"))}
    keep.update(ANSIBLE_NOCOLOR="1", ANSIBLE_HOME=ANSIBLE_HOME)
    keep.update(env)
    return keep


def run_playbook(*args: str, local: bool = True, config: bool = True, timeout: float = 300, **env: str) -> Run:
    """`ansible-playbook ansible/update_proxy.yml ARGS` from the checkout, as an operator runs it.

    local=True runs against this machine (the engine's host) over the local connection;
    config=True uses ansible/ansible.cfg as app/proxy.py does (False: no config, no inventory)."""
    if config:
        env.setdefault("ANSIBLE_CONFIG", str(ROOT / "ansible" / "ansible.cfg"))
    command = [str(Path(sys.executable).parent / "ansible-playbook"), str(PLAYBOOK.relative_to(ROOT)), *args]
    if local:
        command += ["-e", "ansible_connection=local", "-e", f"ansible_python_interpreter={sys.executable}"]
    done = subprocess.run(command, cwd=ROOT, env=playbook_env(**env), capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)
    return Run(done)


class SshVps:
    """A VPS stand-in: sshd (root, key or password) in a container on its own port, with the docker
    CLI driving this engine through its socket, so the proxy container is managed from "the VPS"."""

    def __init__(self, image: str, workdir: Path):
        self.name = f"ansible-sshd-{uuid.uuid4().hex[:10]}"
        self.port = free_port()
        self.key = workdir / "vps_key"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ansible-test", "-f", str(self.key)],
                       check=True, capture_output=True)
        self.known_hosts = workdir / "known_hosts"
        socket_path = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock").removeprefix("unix://")
        docker("create", "--name", self.name, "--network", "host", "-e", f"SSHD_PORT={self.port}",
               "-v", f"{socket_path}:/var/run/docker.sock", image)
        # Copied, not bind-mounted: sshd wants authorized_keys owned by root, whoever runs the test.
        docker("cp", f"{self.key}.pub", f"{self.name}:/root/.ssh/authorized_keys")
        docker("start", self.name)
        self.wait_listening()

    def wait_listening(self, timeout: float = 60) -> None:
        import socket

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=2) as conn:
                    if conn.recv(64).startswith(b"SSH-"):
                        return
            except OSError:
                time.sleep(0.2)
        raise TimeoutError(f"sshd {self.name} did not answer:\n{docker('logs', self.name, check=False).stderr}")

    def env(self) -> dict[str, str]:
        """VPS_* for this VPS, and ssh options that keep its host key out of ~/.ssh."""
        return {
            "VPS_HOST": "127.0.0.1",
            "VPS_PORT": str(self.port),
            "VPS_USER": "root",
            "VPS_SSH_KEY_FILE": str(self.key),
            "ANSIBLE_SSH_ARGS": f"-o ControlMaster=no -o StrictHostKeyChecking=accept-new "
                                f"-o UserKnownHostsFile={self.known_hosts}",
        }

    def set_root_password(self, password: str) -> None:
        done = subprocess.run(["docker", "exec", "-i", self.name, "chpasswd"], input=f"root:{password}\n",
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr

    def remove(self) -> None:
        docker("rm", "-f", self.name, check=False)
