"""Every variable `.env.example` documents is read by code, or its description says "not used
yet" (issue 7: a newcomer must not configure something that does nothing)."""

from __future__ import annotations

import re

from tests.support import ROOT
from tests.unit.test_env_example import EXAMPLE, VARIABLE_LINE, example_variables

# Code that may read a variable: the package (through Settings' attribute or the name itself),
# and the image, playbook and scripts (by name).
CODE_GLOBS = ("app/**/*.py", "scripts/*", "image/**/*", "ansible/**/*.yml", "supervisord.conf", "Dockerfile",
              "docker-compose.yml")
# Variables whose code is being built on a branch that has not landed yet (none now).
BEING_BUILT: set[str] = set()  # every variable now has code; a new one in flight goes here
ATTRIBUTE = {"CHATWOOT_WEBHOOK_SECRET": "chatwoot_webhook_secrets"}


def _code() -> str:
    texts = []
    for pattern in CODE_GLOBS:
        for path in ROOT.glob(pattern):
            if path.is_file() and path != ROOT / "app" / "settings.py":
                texts.append(path.read_text(encoding="utf-8", errors="replace"))
    settings = (ROOT / "app" / "settings.py").read_text(encoding="utf-8")
    # settings.py's own derived properties count (chatwoot_configured reads the account id)
    texts.append(settings.split("def read_dotenv", 1)[0].split("@classmethod", 1)[1])
    return "\n".join(texts)


def _used(name: str, code: str) -> bool:
    attribute = ATTRIBUTE.get(name, name.lower())
    return bool(re.search(rf"\.{attribute}\b|\b{name}\b", code))


def _description(name: str) -> str:
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    at = next(i for i, line in enumerate(lines) if re.match(rf"^#?\s*{name}=", line))
    above = []
    for line in reversed(lines[:at]):
        if not line.startswith("#") or VARIABLE_LINE.match(line) or line.startswith("# ---"):
            break
        above.append(line)
    return " ".join(reversed(above)).lower()


def test_every_documented_variable_is_read_by_code_or_says_not_used_yet():
    code = _code()
    unused = sorted(n for n in example_variables() if not _used(n, code) and n not in BEING_BUILT)
    unmarked = [n for n in unused if "not used yet" not in _description(n)]
    assert unmarked == [], "documented, read by no code, and not marked 'not used yet'"


def test_no_variable_with_code_is_marked_not_used_yet():
    code = _code()
    stale = [n for n in example_variables() if _used(n, code) and "not used yet" in _description(n)]
    assert stale == []


def test_the_scan_sees_code_that_reads_a_variable():
    code = _code()
    assert _used("WORKER_CONCURRENCY", code) and _used("CHATWOOT_WEBHOOK_SECRET", code)
    assert _used("CHATWOOT_ACCOUNT_ID", code)  # through Settings.chatwoot_configured
    assert not _used("NO_SUCH_VARIABLE", code)
