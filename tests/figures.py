"""The figures of the run, shown at its end even when pytest captured them.

Reliability, container and Ansible tests print one summary line each (`[reliability] …`,
`[container] …`, `[ansible] …`, `soak: …`). pytest keeps a passing test's output to itself, so
these hooks collect such lines from every test's captured output and repeat them, in order, in
a "figures" section of the terminal summary: CI's log then holds every figure of the run.
"""

from __future__ import annotations

import re

FIGURE = re.compile(r"^(\[(?:reliability|container|ansible|bench)\] |soak: )")
_lines: list[str] = []


def pytest_runtest_logreport(report) -> None:
    for line in (report.capstdout or "").splitlines():
        if FIGURE.match(line) and line not in _lines:
            _lines.append(line)


def pytest_terminal_summary(terminalreporter) -> None:
    if _lines:
        terminalreporter.section("figures")
        for line in _lines:
            terminalreporter.write_line(line)
