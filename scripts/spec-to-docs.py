#!/usr/bin/env python3
"""Replace "SPEC §n" citations (a file outside the repository) with links into docs/.

    python3 scripts/spec-to-docs.py           # rewrite every tracked file that cites SPEC §n
    python3 scripts/spec-to-docs.py --check   # exit 1 while any "SPEC §" is left

Each section of the old specification now lives under a heading of docs/ (MAPPING below);
tests/unit/test_docs_links.py checks every `docs/<file>#<anchor>` the code names. Lines the
rewrite makes longer than 120 characters are listed for a hand edit (ruff's E501 in app/).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

MAPPING = {
    "1": "docs/architecture.md#what-it-is",
    "2": "docs/architecture.md#layout",
    "3": "docs/architecture.md#processes",
    "4": "docs/configuration.md",
    "5": "docs/architecture.md#http-interface",
    "6": "docs/architecture.md#events-the-bot-answers",
    "7": "docs/architecture.md#replies-and-handoff",
    "8": "docs/architecture.md#hub-and-crews",
    "8.1": "docs/operations.md#knowledge-directory",
    "9": "docs/operations.md#public-url-and-proxy",
    "10": "docs/operations.md#logs",
    "11": "docs/operations.md#cli",
}
# `SPEC §3, §9` and `SPEC §4 "vps / proxy"` (a group of §4) as well as a plain `SPEC §6`.
CITATION = re.compile(r"SPEC §(\d+(?:\.\d+)?)((?:,? (?:and )?§\d+(?:\.\d+)?)*)( \"vps / proxy\")?")
SECTION = re.compile(r"§(\d+(?:\.\d+)?)")
SKIPPED = {"scripts/spec-to-docs.py"}


def replace(text: str) -> str:
    def one(match: re.Match) -> str:
        if match.group(3):  # the vps / proxy group of the configuration
            return "docs/configuration.md#vps--proxy"
        sections = [match.group(1), *SECTION.findall(match.group(2) or "")]
        return ", ".join(MAPPING[s] for s in sections)

    return CITATION.sub(one, text)


def tracked_files() -> list[Path]:
    names = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [ROOT / n for n in names.splitlines() if n not in SKIPPED and (ROOT / n).is_file()]


def main(argv: list[str]) -> int:
    left, long_lines = [], []
    for path in tracked_files():
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        if "SPEC §" not in text:
            continue
        rel = path.relative_to(ROOT)
        if "--check" in argv:
            left += [f"{rel}:{n}" for n, line in enumerate(text.splitlines(), 1) if "SPEC §" in line]
            continue
        new = replace(text)
        path.write_text(new, encoding="utf-8")
        for n, line in enumerate(new.splitlines(), 1):
            if "docs/" in line and len(line) > 120 and rel.suffix == ".py":
                long_lines.append(f"{rel}:{n} ({len(line)} characters)")
            if "SPEC §" in line:
                left.append(f"{rel}:{n}")
        print(f"rewrote {rel}")
    for where in long_lines:
        print(f"too long now, wrap it by hand: {where}")
    for where in left:
        print(f"SPEC § left: {where}")
    return 1 if left else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
