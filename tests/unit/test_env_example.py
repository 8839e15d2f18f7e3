"""`.env.example` documents exactly the variables app/settings.py reads, so the two cannot drift."""

import re

from app.settings import SECRETS, read_dotenv
from tests.support import ROOT

EXAMPLE = ROOT / ".env.example"
# `r.str("X"`, `r.secret("X"`, `r.int("X"`, ... in _parse: every variable Settings reads.
READ_CALL = re.compile(r"\br\.[a-z]+\(\s*\"([A-Z][A-Z0-9_]*)\"")
# A variable line, commented out (a default) or not: `# NAME=value` or `NAME=value`.
VARIABLE_LINE = re.compile(r"^#?\s*([A-Z][A-Z0-9_]*)=", re.MULTILINE)


def settings_variables() -> set[str]:
    return set(READ_CALL.findall((ROOT / "app" / "settings.py").read_text(encoding="utf-8")))


def example_variables() -> set[str]:
    names = set(VARIABLE_LINE.findall(EXAMPLE.read_text(encoding="utf-8")))
    # NAME_FILE lines are examples of the secret-in-a-file form, not variables of their own.
    return {n for n in names if not (n.endswith("_FILE") and n.removesuffix("_FILE") in SECRETS)}


def test_scan_finds_the_settings_variables():
    found = settings_variables()
    assert {"WEBHOOK_PORT", "CHATWOOT_API_KEY", "LLM_MODEL", "LOG_ROTATE_KEEP"} <= found
    assert set(SECRETS) <= found


def test_example_lists_exactly_the_variables_settings_reads():
    documented, read = example_variables(), settings_variables()
    assert documented - read == set(), "documented in .env.example but not read by app/settings.py"
    assert read - documented == set(), "read by app/settings.py but missing from .env.example"


def test_example_is_a_usable_dotenv_template():
    # As shipped every value is commented out: parsing it yields nothing and raises nothing.
    assert read_dotenv(EXAMPLE) == {}


def test_every_secret_says_it_is_one():
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    for name in SECRETS:
        at = lines.index(f"# {name}=")
        # Its description: the comment lines right above it, up to a blank line or another variable.
        above = []
        for line in reversed(lines[:at]):
            if not line.startswith("#") or VARIABLE_LINE.match(line):
                break
            above.append(line)
        assert any("[secret]" in line for line in above), f"{name} is not marked [secret] in .env.example"
