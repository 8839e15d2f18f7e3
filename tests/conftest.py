import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# crewai must never phone home from a test run (DEVELOPERS.md: it stalls 10-15 s offline).
os.environ.setdefault("CREWAI_DISABLE_TELEMETRY", "true")
os.environ.setdefault("CREWAI_TRACING_ENABLED", "false")
os.environ.setdefault("CREWAI_DISABLE_VERSION_CHECK", "true")
os.environ.setdefault("OTEL_SDK_DISABLED", "true")


@pytest.fixture
def settings_env(tmp_path):
    from tests.support import base_env

    return base_env(tmp_path)


# After the whole run: no configured secret in any log or captured output (tests/secret_scan.py).
# The summary lines of reliability, container and Ansible tests, repeated at the end (tests/figures.py).
from tests.figures import pytest_runtest_logreport, pytest_terminal_summary  # noqa: E402,F401 - hooks
from tests.secret_scan import pytest_sessionfinish  # noqa: E402,F401 - a pytest hook, found by name
