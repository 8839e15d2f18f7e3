"""docs/configuration.md documents exactly the variables app/settings.py reads, and is what
scripts/gen-config-doc.py writes from .env.example (its single source), so neither can drift."""

import importlib.util
import re
import sys

from tests.support import ROOT
from tests.unit.test_env_example import settings_variables

DOC = ROOT / "docs" / "configuration.md"
ROW = re.compile(r"^\| `([A-Z][A-Z0-9_]*)` \|", re.MULTILINE)


def generator():
    spec = importlib.util.spec_from_file_location("gen_config_doc", ROOT / "scripts" / "gen-config-doc.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_the_doc_is_what_the_generator_writes():
    assert DOC.read_text(encoding="utf-8") == generator().generate(), (
        "docs/configuration.md is out of date: run python3 scripts/gen-config-doc.py"
    )


def test_the_doc_names_exactly_the_variables_settings_reads():
    documented, read = set(ROW.findall(DOC.read_text(encoding="utf-8"))), settings_variables()
    assert documented - read == set(), "documented in docs/configuration.md but not read by app/settings.py"
    assert read - documented == set(), "read by app/settings.py but missing from docs/configuration.md"


def test_every_variable_has_a_meaning_and_secrets_say_so():
    from app.settings import SECRETS

    rows = {m.group(1): m.group(0) for m in re.finditer(r"^\| `([A-Z][A-Z0-9_]*)` \|.*$", DOC.read_text(
        encoding="utf-8"), re.MULTILINE)}
    for name, row in rows.items():
        meaning = row.rsplit("|", 2)[-2].strip()
        assert len(meaning) > 10, f"{name} has no meaning in docs/configuration.md"
        assert ("*secret.*" in row) == (name in SECRETS), f"{name}: secret marking differs from app/settings.py"


def test_a_new_variable_in_the_example_reaches_the_doc():
    gen = generator()
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    added = example.replace("# WORKER_CONCURRENCY=4\n",
                            "# WORKER_CONCURRENCY=4\n# Seconds a test waits.\n# ZZ_NEW_SETTING=7\n")
    _, groups = gen.parse(added)
    text = gen.render(groups)
    assert "| `ZZ_NEW_SETTING` | `7` | Seconds a test waits. |" in text
    # A variable under another without a comment of its own shares that comment (host and port).
    assert "| `WEBHOOK_PORT` | `8001` | Address and port the web program listens on. |" in text
