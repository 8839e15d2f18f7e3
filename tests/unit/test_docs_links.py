"""Every link into docs/ — from the code, the README, .env.example and the docs themselves —
names a file that exists and a heading it has, so the contract's references cannot rot."""

import re

from tests.support import ROOT

DOCS = ROOT / "docs"
# `docs/operations.md#dead-letters` in code and the README; `](operations.md#x)` inside docs/.
CODE_LINK = re.compile(r"docs/([a-z_-]+\.md)(?:#([a-z0-9_-]+))?")
DOC_LINK = re.compile(r"\]\(([a-z_-]+\.md)?(?:#([a-z0-9_-]+))?\)")
SCANNED = [name for name in ("app", "tests", "scripts", "image", "ansible") if (ROOT / name).is_dir()]
TOP_FILES = ("README.md", ".env.example", "Dockerfile", "docker-compose.yml", "supervisord.conf", "Makefile")


def anchors(name: str) -> set[str]:
    """GitHub's anchors of a markdown file's headings (lower case, punctuation dropped)."""
    slugs = set()
    for line in (DOCS / name).read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            slugs.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return slugs


def links() -> list[tuple[str, str, str | None]]:
    """(where, file, anchor) for every link found."""
    found = []
    files = [p for p in (ROOT / name for name in TOP_FILES) if p.is_file()]
    for folder in SCANNED:
        files += [p for p in (ROOT / folder).rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    for path in files:
        if path.name in ("test_docs_links.py", "spec-to-docs.py") or path.suffix in (".pyc", ".json", ".csv"):
            continue
        for match in CODE_LINK.finditer(path.read_text(encoding="utf-8", errors="ignore")):
            found.append((str(path.relative_to(ROOT)), match.group(1), match.group(2)))
    for path in DOCS.glob("*.md"):
        for match in DOC_LINK.finditer(path.read_text(encoding="utf-8")):
            if match.group(1) or match.group(2):
                found.append((f"docs/{path.name}", match.group(1) or path.name, match.group(2)))
    return found


def test_the_docs_exist_and_the_readme_links_them():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in ("architecture.md", "configuration.md", "operations.md"):
        assert (DOCS / name).is_file(), name
        assert f"(docs/{name})" in readme, f"README.md does not link docs/{name}"


def test_every_link_into_docs_resolves():
    found = links()
    assert any(where.startswith("app/") for where, _, _ in found), "the scan finds the code's links"
    broken = [f"{where}: docs/{name}#{anchor}" for where, name, anchor in found
              if not (DOCS / name).is_file() or (anchor and anchor not in anchors(name))]
    assert broken == []


def test_a_broken_anchor_is_caught():
    assert "dead-letters" in anchors("operations.md")
    assert "no-such-heading" not in anchors("operations.md")


def spec_to_docs():
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location("spec_to_docs", ROOT / "scripts" / "spec-to-docs.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_every_old_spec_section_has_a_home_in_docs():
    for section, target in spec_to_docs().MAPPING.items():
        name, _, anchor = target.removeprefix("docs/").partition("#")
        assert (DOCS / name).is_file() and (not anchor or anchor in anchors(name)), f"§{section}: {target}"


def test_spec_citations_become_links_into_docs():
    replace = spec_to_docs().replace
    assert replace('"""Webhook authentication (SPEC §5), failing closed.') == (
        '"""Webhook authentication (docs/architecture.md#http-interface), failing closed.')
    assert replace("where the appliance is (SPEC §3, §9).") == (
        "where the appliance is (docs/architecture.md#processes, docs/operations.md#public-url-and-proxy).")
    assert replace("The rule of SPEC §6 on the fields") == (
        "The rule of docs/architecture.md#events-the-bot-answers on the fields")
    assert replace("(SPEC §8.1): parse") == "(docs/operations.md#knowledge-directory): parse"
    assert replace('settings (SPEC §4 "vps / proxy").') == "settings (docs/configuration.md#vps--proxy)."
    assert replace("(SPEC §3, §10): Debian's") == "(docs/architecture.md#processes, docs/operations.md#logs): Debian's"
