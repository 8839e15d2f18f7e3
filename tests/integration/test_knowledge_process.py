"""The knowledge directory through the real programs (issue 7): a directory that cannot be
loaded stops the worker with one line naming file and line; a later broken edit keeps the
previous data and turns /ready 503 until it is fixed. Plus `chatwootai knowledge check`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from app.settings import EXAMPLE_KNOWLEDGE_DIR
from tests.support import Program, base_env, wait_until

BROKEN_HOURS = "  mon: ['09:00-18:00']\n  mondey: ['09:00-18:00']\n"


def copy_example(tmp_path: Path) -> Path:
    target = tmp_path / "knowledge"
    shutil.copytree(EXAMPLE_KNOWLEDGE_DIR, target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return target


def break_business_yaml(directory: Path) -> int:
    """Replace the hours with a misspelt weekday; returns the line of the bad key."""
    path = directory / "business.yaml"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith("hours:"))
    end = next(i for i in range(start + 1, len(lines)) if not lines[i].startswith(" "))
    lines[start + 1 : end] = BROKEN_HOURS.splitlines(keepends=True)
    _write(path, "".join(lines))
    return start + 3


def _write(path: Path, text: str) -> None:
    before = path.stat().st_mtime_ns if path.exists() else time.time_ns()
    path.write_text(text, encoding="utf-8")
    later = max(before, time.time_ns()) + 2_000_000_000
    os.utime(path, ns=(later, later))  # a visible change even on a coarse-mtime filesystem


def cli(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("WEBHOOK_", "CHATWOOT_", "KNOWLEDGE_"))}
    clean.update(env or {})
    return subprocess.run([sys.executable, "-m", "app.cli", *args], cwd=tmp_path, env=clean,
                          capture_output=True, text=True, timeout=120)


# ---- the worker's start


def test_worker_with_a_broken_knowledge_dir_stops_with_one_line_naming_file_and_line(tmp_path):
    kdir = copy_example(tmp_path)
    line = break_business_yaml(kdir)
    worker = Program("worker", base_env(tmp_path, KNOWLEDGE_DIR=str(kdir)), cwd=tmp_path).start(wait_ready=False)
    try:
        worker.proc.wait(timeout=60)
    finally:
        worker.stop()
    output = worker.output().strip()
    assert worker.proc.returncode == 2
    assert "Traceback" not in output
    assert output.splitlines() == [
        f"chatwootai: knowledge error in {kdir}: business.yaml:{line}: unknown weekday 'mondey' "
        "(use mon..sun, monday..sunday, seg..dom, segunda(-feira)..domingo, or a range like mon-fri)"
    ]


def test_worker_starts_with_monday_and_segunda_feira_in_business_yaml(appliance, tmp_path):
    kdir = copy_example(tmp_path)
    text = (kdir / "business.yaml").read_text(encoding="utf-8")
    text = text.replace("  mon:", "  Monday:").replace("  tue:", "  terça-feira:").replace("  sat:", "  Sábado:")
    _write(kdir / "business.yaml", text)
    app = appliance(KNOWLEDGE_DIR=str(kdir))

    def knowledge():
        check = httpx.get(f"{app.web.url}/ready").json()["checks"]["knowledge"]
        return check if isinstance(check, dict) else None

    assert wait_until(knowledge, what="knowledge status") == {"status": "ok", "products": 20, "faq": 15}
    app.customer_says(4102, "qual o horário de funcionamento?")
    (reply,) = app.wait_replies(4102)
    assert reply["content"]  # the worker answers from the loaded knowledge


# ---- a later broken edit


def test_broken_edit_keeps_previous_data_and_turns_ready_503_until_fixed(appliance, tmp_path):
    kdir = copy_example(tmp_path)
    app = appliance(KNOWLEDGE_DIR=str(kdir))
    wait_until(lambda: httpx.get(f"{app.web.url}/ready").status_code == 200, what="ready")
    good_catalog = (kdir / "catalog.csv").read_text(encoding="utf-8")
    _write(kdir / "catalog.csv", good_catalog.replace("BP-003,Protetor Solar Facial FPS 50,", "BP-003,,"))

    def broken():
        r = httpx.get(f"{app.web.url}/ready")
        return r if r.status_code == 503 else None

    answer = wait_until(broken, what="/ready 503 after a broken edit")
    knowledge = answer.json()["checks"]["knowledge"]
    assert knowledge["status"] == "error" and knowledge["serving"] == "previous data"
    assert knowledge["errors"] == ["catalog.csv:4: 'name' is empty"]
    assert answer.json()["checks"]["worker"]["status"] == "ok"  # the only reason is the knowledge

    # the previous data keeps serving
    app.customer_says(4101, "vocês têm protetor solar facial?")
    (reply,) = app.wait_replies(4101)
    assert "Protetor Solar Facial FPS 50" in reply["content"]

    _write(kdir / "catalog.csv", good_catalog)
    wait_until(lambda: httpx.get(f"{app.web.url}/ready").status_code == 200, what="/ready 200 after the fix")
    assert httpx.get(f"{app.web.url}/ready").json()["checks"]["knowledge"]["status"] == "ok"


# ---- chatwootai knowledge check


def test_knowledge_check_passes_on_the_example_without_any_credentials(tmp_path):
    proc = cli(tmp_path, "knowledge", "check")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "✓ business.yaml  Bella Pele Cosméticos" in out
    assert "✓ catalog.csv    20 products" in out and "BP-003  Protetor Solar Facial FPS 50 — R$ 69,90" in out
    assert "✓ faq.md         15 questions" in out and "- Vocês aceitam Pix? Qual a chave Pix?" in out
    assert "✓ services.yaml  3 services" in out and "next free slots" in out
    assert "hours: seg 09:00-18:00" in out
    assert out.rstrip().endswith("OK: the worker loads this directory.")
    assert proc.stderr == ""
    assert not (tmp_path / "data").exists()  # nothing written next to the operator's files


def test_knowledge_check_fails_with_file_and_line_on_a_broken_copy(tmp_path):
    kdir = copy_example(tmp_path)
    line = break_business_yaml(kdir)
    catalog = kdir / "catalog.csv"
    _write(catalog, catalog.read_text(encoding="utf-8").replace(",69.90,", ",abc,"))
    proc = cli(tmp_path, "knowledge", "check", str(kdir))
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert f"✗ business.yaml:{line}: unknown weekday 'mondey' " in "\n".join(lines)
    assert "✗ catalog.csv:4: price 'abc' is not a number (write 29.90 or 29,90)" in lines
    assert "2 problem(s)" in lines[-1]


def test_knowledge_check_reads_knowledge_dir_from_the_environment(tmp_path):
    kdir = copy_example(tmp_path)
    break_business_yaml(kdir)
    proc = cli(tmp_path, "knowledge", "check", env={"KNOWLEDGE_DIR": str(kdir)})
    assert proc.returncode == 1 and f"knowledge directory: {kdir}" in proc.stdout


def test_knowledge_check_on_a_missing_directory_says_so(tmp_path):
    proc = cli(tmp_path, "knowledge", "check", str(tmp_path / "nope"))
    assert proc.returncode == 1 and "is not a directory" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("bad", ["mondey", "segundaa"])
def test_knowledge_check_names_the_weekday_forms_accepted(tmp_path, bad):
    kdir = copy_example(tmp_path)
    text = (kdir / "services.yaml").read_text(encoding="utf-8").replace("  tue:", f"  {bad}:")
    _write(kdir / "services.yaml", text)
    proc = cli(tmp_path, "knowledge", "check", str(kdir))
    assert proc.returncode == 1 and f"unknown weekday '{bad}'" in proc.stdout and "segunda(-feira)" in proc.stdout
