"""The command line (issue 7): --version, usage errors for extra arguments, --help with an
example for every subcommand; and the first start of web and worker together on a fresh
directory (they used to delete each other's `.write-test` probe, and race on the WAL switch)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from importlib import metadata
from pathlib import Path

import httpx
import pytest

from app.cli import build_parser
from app.settings import Settings, check_directories
from tests.support import Program, base_env, free_port


def cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WEBHOOK_", "CHATWOOT_"))}
    env["WEBHOOK_AUTH_TOKEN"] = "tok-cli-test"
    return subprocess.run([sys.executable, "-m", "app.cli", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)


def test_version_comes_from_the_package_metadata(tmp_path):
    proc = cli(tmp_path, "--version")
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"chatwootai {metadata.version('chatwootai')}"


@pytest.mark.parametrize(
    ("args", "usage"),
    [
        (["serve", "extra"], "usage: chatwootai serve"),
        (["worker", "--now"], "usage: chatwootai worker"),
        (["knowledge", "check", "a", "b"], "usage: chatwootai knowledge check"),
        (["knowledge"], "usage: chatwootai knowledge"),
        (["knowledge", "verify"], "usage: chatwootai knowledge"),
        (["bogus"], "usage: chatwootai"),
    ],
)
def test_extra_or_unknown_arguments_are_refused_with_the_commands_usage(tmp_path, args, usage):
    proc = cli(tmp_path, *args)
    assert proc.returncode == 2
    assert proc.stderr.startswith(usage), proc.stderr
    assert "error:" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "data").exists()  # refused before anything started


def _subparsers(parser: argparse.ArgumentParser, prefix: str = "chatwootai"):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield f"{prefix} {name}", sub
                yield from _subparsers(sub, f"{prefix} {name}")


def test_every_subcommand_has_help_with_an_example():
    found = dict(_subparsers(build_parser()))
    assert {"chatwootai serve", "chatwootai worker", "chatwootai knowledge", "chatwootai knowledge check"} <= set(found)
    for name, sub in found.items():
        text = sub.format_help()
        assert "example:" in text, f"{name} --help has no example"
        examples = text.split("example:", 1)[1]
        assert "chatwootai " in examples, f"{name} --help example does not show a command"


def test_help_of_a_subcommand_through_the_real_program(tmp_path):
    proc = cli(tmp_path, "knowledge", "check", "--help")
    assert proc.returncode == 0 and "example:" in proc.stdout and "chatwootai knowledge check ./my-shop" in proc.stdout


# ---- first-start races


def test_directory_probes_of_concurrent_starts_never_collide(tmp_path):
    """The fixed `.write-test` name let one start delete the other's probe ("No such file")."""
    settings = Settings.from_env({"WEBHOOK_AUTH_TOKEN": "t", "DATA_DIR": str(tmp_path / "d"),
                                  "LOG_DIR": str(tmp_path / "l")})
    errors: list[Exception] = []

    def start() -> None:
        for _ in range(200):
            try:
                check_directories(settings)
            except Exception as exc:  # noqa: BLE001 - collected for the assertion
                errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert list((tmp_path / "d").iterdir()) == [] and list((tmp_path / "l").iterdir()) == []


ROUNDS = 6


def test_web_and_worker_started_together_on_a_fresh_dir_always_come_up(tmp_path):
    """`make run` in a fresh clone failed once in three: both programs at the same instant, many times."""
    failures = []
    for round_ in range(ROUNDS):
        root = tmp_path / f"round{round_}"
        root.mkdir()
        port = free_port()
        env = base_env(root, WEBHOOK_PORT=str(port))
        web = Program("serve", env, cwd=root, port=port)
        worker = Program("worker", env, cwd=root)
        web.start(wait_ready=False)
        worker.start(wait_ready=False)
        try:
            web.wait_http("/health", timeout=60)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if worker.proc.poll() is not None:
                    failures.append(f"round {round_}: worker exited {worker.proc.returncode}: {worker.output()[-800:]}")
                    break
                checks = httpx.get(f"{web.url}/ready", timeout=5).json()["checks"]
                if isinstance(checks["worker"], dict) and isinstance(checks["knowledge"], dict):
                    break
                time.sleep(0.1)
            else:
                failures.append(f"round {round_}: worker never beat: {worker.output()[-800:]}")
        except (RuntimeError, TimeoutError) as exc:
            failures.append(f"round {round_}: {exc}")
        finally:
            worker.stop()
            web.stop()
    assert failures == []
