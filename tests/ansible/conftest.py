"""The real playbook against real containers on a Docker engine (STYLE.md "Tests").

Tests marked `ansible` need an engine; where none answers they are skipped with one line. Every
container uses --network host (the docker-lab engine has no bridge), so each server gets its own
free port, and every image and container name starts with "ansible-".
"""

from __future__ import annotations

import shutil

import pytest

from tests.ansible.helpers import IMAGES, PROXY_IMAGE, SSHD_IMAGE, ProxyContainer, SshVps, build
from tests.support import docker_engine_problem

_not_run: list[str] = []


def pytest_collection_modifyitems(config, items):
    marked = [item for item in items if item.get_closest_marker("ansible")]
    problem = docker_engine_problem() if marked else None
    if problem is None:
        return
    reason = f"no Docker engine answers ({problem})"
    for item in marked:
        item.add_marker(pytest.mark.skip(reason=reason))
    _not_run.append(f"tests/ansible: {len(marked)} tests skipped: {reason}")


def pytest_terminal_summary(terminalreporter):
    # pytest lists skip reasons only with -rs; this says it in one line on every run.
    for line in _not_run:
        terminalreporter.write_line(line, yellow=True)


@pytest.fixture(scope="session")
def proxy_image() -> str:
    return build(PROXY_IMAGE, IMAGES / "proxy")


@pytest.fixture(scope="session")
def sshd_image(tmp_path_factory) -> str:
    # The VPS stand-in gets this machine's docker CLI (Debian's is linked only against libc).
    context = tmp_path_factory.mktemp("sshd-image")
    shutil.copytree(IMAGES / "sshd", context, dirs_exist_ok=True)
    shutil.copy2(shutil.which("docker"), context / "docker")
    return build(SSHD_IMAGE, context)


@pytest.fixture(scope="session")
def proxy_container(proxy_image):
    container = ProxyContainer(proxy_image)
    yield container
    container.remove()


@pytest.fixture
def proxy(proxy_container):
    """The proxy container as built: its original upstream file, running."""
    proxy_container.reset()
    return proxy_container




@pytest.fixture(scope="session")
def vps(sshd_image, tmp_path_factory):
    if shutil.which("ssh") is None or shutil.which("ssh-keygen") is None:
        reason = "no OpenSSH client here (apt-get install openssh-client): the tests over SSH did not run"
        _not_run.append(f"tests/ansible: {reason}")
        pytest.skip(reason)
    server = SshVps(sshd_image, tmp_path_factory.mktemp("vps"))
    yield server
    server.remove()
