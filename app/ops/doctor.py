"""`chatwootai doctor`: the connection test (SPEC §11, issue 9).

Runs every check in `doctor_checks` in the order a message travels, prints a ✓/✗/– table (–:
not configured), each ✗ with the fix to try, and appends the run to LOG_DIR/webhook_test.log.
Exit 1 on any ✗. Everything printed or logged goes through the secret redactor first.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TextIO

from app.errors import ConfigError
from app.logs import Redactor
from app.ops import doctor_checks as checks
from app.ops import doctor_remote as remote
from app.ops.doctor_checks import FAIL, OK, SKIP, Context, Row
from app.settings import Settings

CHECKS: tuple[Callable[[Context], Row], ...] = (
    checks.check_web,
    checks.check_ready,
    checks.check_worker,
    checks.check_knowledge,
    checks.check_llm,
    checks.check_bot_token,
    checks.check_admin_token,
    remote.check_ngrok,  # before the two that use the tunnel's URL
    remote.check_registration,
    remote.check_round_trip,
    remote.check_vps,
    remote.check_proxy,
)
MARKS = {OK: "✓", FAIL: "✗", SKIP: "–"}
COLOURS = {OK: "\x1b[32m", FAIL: "\x1b[31m", SKIP: "\x1b[2m"}
RESET = "\x1b[0m"


def load_settings() -> tuple[Settings | None, Row]:
    from app.settings import check_directories

    try:
        settings = Settings.from_env()
        check_directories(settings)
    except ConfigError as exc:
        return None, Row("configuration", FAIL, str(exc),
                         "fix that variable in .env or the environment (.env.example documents each one)")
    llm = f"LLM {settings.llm_model}" if settings.llm_model else "offline responder"
    detail = f"valid: port {settings.webhook_port}, {llm}, data in {settings.data_dir}"
    return settings, Row("configuration", OK, detail)


def run_checks(settings: Settings) -> list[Row]:
    ctx = Context(settings)
    rows = []
    for check in CHECKS:
        try:
            rows.append(check(ctx))
        except Exception as exc:  # noqa: BLE001 - a broken check is a failed row, not a traceback
            name = check.__name__.removeprefix("check_").replace("_", " ")
            rows.append(Row(name, FAIL, f"the check itself failed: {type(exc).__name__}: {exc}",
                            "report this with the output of `chatwootai doctor --json`"))
    return rows


def render_table(rows: list[Row], *, colour: bool) -> str:
    width = max(len(r.name) for r in rows)
    lines = []
    for r in rows:
        mark = MARKS[r.status]
        if colour:
            mark = f"{COLOURS[r.status]}{mark}{RESET}"
        lines.append(f"{mark} {r.name:<{width}}  {r.detail}")
        if r.fix and r.status == FAIL:
            fix = f"fix: {r.fix}"
            lines.append(" " * (width + 4) + (f"\x1b[33m{fix}{RESET}" if colour else fix))
    failed = sum(r.status == FAIL for r in rows)
    summary = f"{failed} check(s) failed" if failed else "all configured checks passed"
    if colour:
        summary = f"{COLOURS[FAIL if failed else OK]}{summary}{RESET}"
    lines.append("")
    lines.append(summary)
    return "\n".join(lines) + "\n"


def append_log(log_dir: Path, rows: list[Row], redact: Redactor) -> None:
    """One block per run in webhook_test.log (SPEC §10): when, each row, the verdict."""
    stamp = datetime.now().astimezone().isoformat(timespec="seconds")
    failed = sum(r.status == FAIL for r in rows)
    lines = [f"{stamp} doctor: {'FAIL' if failed else 'OK'} ({failed} failed)"]
    for r in rows:
        lines.append(f"{stamp}   {MARKS[r.status]} {r.name}: {r.detail}" + (f" | fix: {r.fix}" if r.fix and
                                                                                r.status == FAIL else ""))
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
        with (log_dir / "webhook_test.log").open("a", encoding="utf-8") as f:
            f.write(redact("\n".join(lines)) + "\n")
    except OSError as exc:
        print(f"chatwootai doctor: could not append to {log_dir}/webhook_test.log ({exc.strerror})", file=sys.stderr)


def doctor_command(as_json: bool, out: TextIO = sys.stdout) -> int:
    settings, config_row = load_settings()
    rows = [config_row]
    if settings is not None:
        rows += run_checks(settings)
        redact = Redactor(settings.secret_values)
    else:
        redact = Redactor(())
    for r in rows:  # belt and braces: no secret leaves this process, whatever a check quoted
        r.detail = redact(r.detail)
        r.fix = redact(r.fix) if r.fix else r.fix
    failed = any(r.status == FAIL for r in rows)
    if settings is not None:
        append_log(Path(settings.log_dir), rows, redact)
    if as_json:
        out.write(json.dumps({"ok": not failed, "checks": [r.as_dict() for r in rows]}, ensure_ascii=False,
                             indent=2) + "\n")
    else:
        out.write(render_table(rows, colour=out.isatty()))
    out.flush()
    return 1 if failed else 0
