"""The secret scan: after the whole run, no configured secret may appear in anything the run wrote.

Every secret a test configures is remembered (`remember_secret`, called by `Program` for each
secret variable it passes to a real process, and by the container tests for `docker run`
environments). When the session ends, every log file, captured program output and `docker logs`
capture under the session's temporary directory is searched for each secret in each form it can
take in a line: raw, URL-encoded (`quote`, `quote` with nothing safe, `quote_plus`). One summary
line is printed; a finding fails the run and names the file, line and variable — never the value.

Files that hold secrets on purpose (`.env`, `*_FILE` secret files, fixtures) are not outputs and
are not scanned: only names that are outputs are (`*.log*`, `*.out`, `*.err`, `*.txt`, `*.json`
reports of a doctor run …).
"""

from __future__ import annotations

import gzip
import os
import time
from pathlib import Path
from urllib.parse import quote, quote_plus

MIN_LENGTH = 6  # shorter values ("1", "abc") would match ordinary text by chance
_remembered: dict[str, str] = {}  # value -> the variable it was configured as


def remember_secret(name: str, value: str | None) -> None:
    if value and len(value) >= MIN_LENGTH:
        _remembered.setdefault(value, name)


def remembered() -> dict[str, str]:
    return dict(_remembered)


def forms(value: str) -> set[str]:
    """The distinct ways a secret is written into a line: raw, and URL-encoded as the stdlib does."""
    return {value, quote(value), quote(value, safe=""), quote_plus(value), quote_plus(value, safe="")}


def is_output(path: Path) -> bool:
    name = path.name
    return (
        ".log" in name  # webhook.log, hub.log.1, webhook.log.2.gz, docker-web.log
        or name.endswith((".out", ".err", ".stdout", ".stderr", ".capture"))
    )


def read_output(path: Path) -> bytes:
    data = path.read_bytes()
    if path.suffix == ".gz":
        try:
            return gzip.decompress(data)
        except (OSError, EOFError):
            return data
    return data


def scan(root: Path, secrets: dict[str, str]) -> tuple[int, int, list[str]]:
    """(files scanned, bytes scanned, findings as 'file:line: VARIABLE (form)')."""
    needles: dict[bytes, tuple[str, str]] = {}  # one entry per distinct encoded form
    for value, name in secrets.items():
        for kind, form in (("raw", value), ("quote", quote(value)), ("quote-all", quote(value, safe="")),
                           ("quote_plus", quote_plus(value)), ("quote_plus-all", quote_plus(value, safe=""))):
            needles.setdefault(form.encode(), (name, kind))
    files = total = 0
    findings: list[str] = []
    for dirpath, _dirs, names in os.walk(root):
        for fname in names:
            path = Path(dirpath) / fname
            if not path.is_file() or path.is_symlink() or not is_output(path):
                continue
            try:
                data = read_output(path)
            except OSError:
                continue
            files += 1
            total += len(data)
            for needle, (name, kind) in needles.items():
                at = data.find(needle)
                if at >= 0:
                    line = data.count(b"\n", 0, at) + 1
                    findings.append(f"{path.relative_to(root)}:{line}: {name} ({kind})")
    return files, total, findings


def pytest_sessionfinish(session, exitstatus) -> None:
    factory = getattr(session.config, "_tmp_path_factory", None)
    if factory is None:
        return
    try:
        root = factory.getbasetemp()
    except (OSError, ValueError):
        return
    started = time.monotonic()
    secrets = remembered()
    files, total, findings = scan(root, secrets)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    line = (f"secret scan: {len(secrets)} configured secrets in up to 5 encodings, {files} output files "
            f"({total / 1e6:.1f} MB) scanned in {time.monotonic() - started:.1f} s: {len(findings)} found")
    if reporter is not None:
        reporter.write("\n")  # the progress line ("[100%]") is not ended by pytest before this hook
        reporter.write_line(line)
        for finding in findings[:50]:
            reporter.write_line(f"  secret found: {finding}")
    if findings:
        session.exitstatus = 1
