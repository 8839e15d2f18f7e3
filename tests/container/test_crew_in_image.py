"""The crew tests, run inside the image: the dependencies the Dockerfile leaves out (crewai's
memory and knowledge stack) are not needed by anything the hub does."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

from tests.container.conftest import PREFIX, docker
from tests.fakes.swagger import default_spec_path
from tests.support import ROOT

CREW_TESTS = (
    "tests/integration/test_hub_llm.py",
    "tests/integration/test_llm_pool.py",
    "tests/integration/test_worker_llm_e2e.py",
    "tests/unit/test_orchestrator.py",
)


def test_crew_tests_pass_inside_the_image(image):
    tag = f"{PREFIX}-crew:{uuid.uuid4().hex[:8]}"
    docker("buildx", "build", "--network", "host", "--build-arg", f"IMAGE={image}", "-t", tag,
           "-f", str(Path(__file__).with_name("crew-tests.Dockerfile")), str(Path(__file__).parent), timeout=900)
    try:
        spec = default_spec_path().resolve()
        run = subprocess.run(
            ["docker", "run", "--rm", "--network", "host", "--entrypoint", "python3",
             "-v", f"{ROOT / 'tests'}:/src/tests:ro", "-v", f"{spec}:{spec}:ro", "-w", "/src",
             "-e", "HOME=/tmp", "-e", "DATA_DIR=/tmp/data", "-e", "LOG_DIR=/tmp/logs",
             tag, "-m", "pytest", "-q", "-p", "no:cacheprovider", *CREW_TESTS],
            capture_output=True, text=True, timeout=1200,
        )
        tail = (run.stdout + run.stderr)[-4000:]
        print(f"\n[container] crew tests inside the image: {tail.strip().splitlines()[-1] if tail.strip() else '?'}")
        assert run.returncode == 0, tail
        assert "passed" in run.stdout and "skipped" not in run.stdout.splitlines()[-1]
    finally:
        docker("image", "rm", "-f", tag, check=False)
