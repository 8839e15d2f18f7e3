"""`chatwootai` — the appliance's command line (docs/operations.md#cli)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path

from app.errors import ConfigError
from app.settings import Settings, check_directories


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    from app.logs import setup_logging
    from app.web.app import create_app

    setup_logging(settings, component="web", filename="webhook.log")
    app = create_app(settings, name="chatwootai")
    app.run(
        host=settings.webhook_host,
        port=settings.webhook_port,
        single_process=True,
        access_log=False,
        motd=False,
    )
    return 0


def _worker(settings: Settings, args: argparse.Namespace) -> int:
    from app.worker.main import run_worker

    return run_worker(settings)


def _dead_letters(settings: Settings, args: argparse.Namespace) -> int:
    from app.worker.dead_letters import dead_letters_command

    return dead_letters_command(settings, args.action or "list", getattr(args, "id", None))


def _logs(settings: Settings, args: argparse.Namespace) -> int:
    from app.ops.logview import logs_command

    return logs_command(settings, args)


def _simulate(settings: Settings, args: argparse.Namespace) -> int:
    from app.ops.simulate import simulate_command

    return simulate_command(settings, args)


def _doctor(args: argparse.Namespace) -> int:
    from app.ops.doctor import doctor_command

    return doctor_command(args.json)


def _demo(args: argparse.Namespace) -> int:
    from app.demo.session import demo_command

    return demo_command(args)


def _knowledge(settings: Settings, args: argparse.Namespace) -> int:
    from loguru import logger

    from app.hub.knowledge_check import check_knowledge, render

    logger.remove()  # the report says it all; the loader's own log lines would only repeat it
    directory = Path(args.dir) if args.dir else settings.knowledge_dir
    if not directory.is_dir():
        print(f"chatwootai: knowledge check: {directory} is not a directory", file=sys.stderr)
        return 1
    report = check_knowledge(directory, timezone=settings.business_timezone, store=settings.db_path)
    try:
        print(render(report), flush=True)
    except BrokenPipeError:  # `chatwootai knowledge check | head`: the reader has seen enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0 if report.ok else 1


def _register(settings: Settings, args: argparse.Namespace) -> int:
    from app.register import run_register

    return run_register(settings, watch=args.watch, timeout=args.timeout, interval=args.interval)


def _tunnel(settings: Settings, args: argparse.Namespace) -> int:
    from app.tunnel import run_tunnel

    return run_tunnel(settings)


def _seconds(low: float, high: float) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low:g} and {high:g} seconds, got {value:g}")
        return value

    return parse


def _check_config(settings: Settings, args: argparse.Namespace) -> int:
    # main() has already built the settings and checked the directories: reaching here is "ok".
    print("configuration ok")
    return 0


COMMANDS: dict[str, Callable[[Settings, argparse.Namespace], int]] = {
    "serve": _serve,
    "worker": _worker,
    "dead-letters": _dead_letters,
    "knowledge": _knowledge,
    "register": _register,
    "tunnel": _tunnel,
    "check-config": _check_config,
    "logs": _logs,
    "simulate": _simulate,
}
# Commands that read the configuration themselves: doctor reports a broken one as a row, and
# demo needs none at all.
STANDALONE: dict[str, Callable[[argparse.Namespace], int]] = {
    "doctor": _doctor,
    "demo": _demo,
}
# Commands that only read files (dead-letters: the store, which drop and replay also mend): they
# run without the webhook credentials the programs need and without probing DATA_DIR or LOG_DIR.
LOCAL_COMMANDS = {"knowledge", "dead-letters"}


def _version() -> str:
    try:
        return metadata.version("chatwootai")
    except metadata.PackageNotFoundError:  # running from a checkout that was never installed
        return "unknown (not installed)"


def _examples(*lines: str) -> str:
    return "example:\n" + "\n".join(f"  {line}" for line in lines)


def build_parser() -> argparse.ArgumentParser:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="chatwootai",
        description="Self-hosted AI agent for Chatwoot.",
        epilog=_examples("chatwootai serve", "chatwootai knowledge check ./my-shop", "chatwootai COMMAND --help"),
        formatter_class=raw,
    )
    parser.add_argument("--version", action="version", version=f"chatwootai {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser(
        "serve",
        help="run the web program (/webhook, /health, /ready, /metrics)",
        description="Run the web program: Chatwoot's webhooks in, /health, /ready and /metrics.",
        epilog=_examples("WEBHOOK_PORT=8001 chatwootai serve", "curl -s localhost:8001/ready"),
        formatter_class=raw,
    )
    sub.add_parser(
        "worker",
        help="run the worker: drain the inbox, answer, hand off",
        description="Run the worker: answer the stored webhooks through the hub, post replies, hand off. "
        "Stops at start, with the file and line, when KNOWLEDGE_DIR cannot be loaded.",
        epilog=_examples("KNOWLEDGE_DIR=/data/knowledge chatwootai worker"),
        formatter_class=raw,
    )
    kn = sub.add_parser(
        "knowledge",
        help="check a knowledge directory (business.yaml, catalog.csv, faq.md, services.yaml)",
        description="Work with the knowledge directory.",
        epilog=_examples("chatwootai knowledge check", "chatwootai knowledge check ./my-shop"),
        formatter_class=raw,
    )
    kn_sub = kn.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = kn_sub.add_parser(
        "check",
        help="load a directory as the worker would; print what it holds or each error with file:line",
        description="Load a knowledge directory exactly as the worker would and print what it found "
        "(products, FAQ entries, services, hours, next free slots), or each problem with its file "
        "and line. Exit 1 when there is a problem. Nothing in the appliance's store is changed.",
        epilog=_examples(
            "chatwootai knowledge check              # the directory in KNOWLEDGE_DIR",
            "chatwootai knowledge check ./my-shop",
        ),
        formatter_class=raw,
    )
    check.add_argument("dir", nargs="?", metavar="DIR", help="the directory (default: KNOWLEDGE_DIR)")
    dl = sub.add_parser(
        "dead-letters",
        help="list, replay or drop what failed for good (default: list)",
        description="Chatwoot requests that failed for good, and events whose conversation's turn kept"
        " failing. Reads the store: no webhook credentials needed.",
        epilog=_examples("chatwootai dead-letters list", "chatwootai dead-letters replay 12",
                         "chatwootai dead-letters drop 12"),
        formatter_class=raw,
    )
    dl_sub = dl.add_subparsers(dest="action", metavar="ACTION")
    dl_sub.add_parser("list", help="show every dead letter", description="Show every dead letter.",
                      epilog=_examples("chatwootai dead-letters list"), formatter_class=raw)
    replay = dl_sub.add_parser("replay", help="send a request again, or put an event back in the queue",
                               description="Send a dead request to Chatwoot again, or put a dead event back in"
                               " the worker's queue.",
                               epilog=_examples("chatwootai dead-letters replay 12"), formatter_class=raw)
    replay.add_argument("id", type=int, metavar="ID", help="the dead letter's ID (see `dead-letters list`)")
    drop = dl_sub.add_parser("drop", help="discard a dead letter once handled",
                             description="Discard a dead letter (handled, or nothing to do).",
                             epilog=_examples("chatwootai dead-letters drop 12"), formatter_class=raw)
    drop.add_argument("id", type=int, metavar="ID", help="the dead letter's ID (see `dead-letters list`)")
    from app.register import DEFAULT_INTERVAL_S, DEFAULT_TIMEOUT_S, INTERVAL_BOUNDS, TIMEOUT_BOUNDS

    reg = sub.add_parser(
        "register",
        help="register the public URL with Chatwoot (agent bot or account webhook)",
        epilog=_examples("chatwootai register --once", "chatwootai register --watch --interval 5"),
        formatter_class=raw,
    )
    once_or_watch = reg.add_mutually_exclusive_group()
    once_or_watch.add_argument("--once", dest="watch", action="store_false", help="register once and exit (default)")
    once_or_watch.add_argument("--watch", dest="watch", action="store_true",
                               help="keep running; register again when the tunnel URL changes")
    reg.set_defaults(watch=False)  # both flags share `watch`: without this --once's default (True) wins
    reg.add_argument("--timeout", type=_seconds(*TIMEOUT_BOUNDS), default=DEFAULT_TIMEOUT_S,
                     help=f"seconds to wait for the ngrok tunnel (default {DEFAULT_TIMEOUT_S:g})")
    reg.add_argument("--interval", type=_seconds(*INTERVAL_BOUNDS), default=DEFAULT_INTERVAL_S,
                     help=f"seconds between polls of the tunnel (default {DEFAULT_INTERVAL_S:g})")
    sub.add_parser(
        "tunnel",
        help="run the ngrok agent for the web port (when NGROK_AUTH_TOKEN is set)",
        epilog=_examples("NGROK_AUTH_TOKEN=... chatwootai tunnel"),
        formatter_class=raw,
    )
    sub.add_parser(
        "check-config",
        help="validate the configuration (environment, .env, *_FILE) and exit: 0 ok, 2 with the variable named",
        epilog=_examples("chatwootai check-config", "WEBHOOK_PORT=abc chatwootai check-config   # exit 2"),
        formatter_class=raw,
    )
    _add_operator_tools(sub)
    return parser


def _add_operator_tools(sub: argparse._SubParsersAction) -> None:
    """doctor, logs, simulate, demo (issue 9): each with an example in its --help."""
    from app.ops.help import DEMO_EPILOG, DOCTOR_EPILOG, LOGS_EPILOG, SIMULATE_EPILOG

    raw = argparse.RawDescriptionHelpFormatter
    doctor = sub.add_parser("doctor", help="the connection test: a ✓/✗ row per dependency, each ✗ with its fix",
                            epilog=DOCTOR_EPILOG, formatter_class=raw)
    doctor.add_argument("--json", action="store_true", help="print the rows as JSON (for scripts)")
    logs = sub.add_parser("logs", help="webhook.log and hub.log merged in time order, coloured on a terminal",
                          epilog=LOGS_EPILOG, formatter_class=raw)
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new lines (survives rotation)")
    logs.add_argument("--since", metavar="AGE", help="only lines newer than AGE (30s, 10m, 2h, 1d); reads the"
                                                     " rotated files too")
    logs.add_argument("--component", choices=("web", "worker", "hub"), action="append",
                      help="only this program's lines (repeatable)")
    logs.add_argument("--conversation", type=int, metavar="N", help="only lines about conversation N")
    logs.add_argument("--dir", metavar="DIR", help="read this directory instead of LOG_DIR")
    simulate = sub.add_parser("simulate", help="send a signed test message and follow it through the appliance",
                              epilog=SIMULATE_EPILOG, formatter_class=raw)
    simulate.add_argument("text", help="what the simulated customer writes")
    simulate.add_argument("--conversation", type=int, metavar="N",
                          help="conversation id (default: a new one each run)")
    simulate.add_argument("--contact", default="Simulated customer", metavar="NAME", help="the customer's name")
    simulate.add_argument("--timeout", type=float, default=60.0, metavar="S",
                          help="give up when nothing is decided within S seconds (default 60)")
    sub.add_parser("demo", help="try the bot in this terminal against a built-in Chatwoot simulator",
                   epilog=DEMO_EPILOG, formatter_class=raw)


def _own_usage_errors(parser: argparse.ArgumentParser) -> None:
    """Let every (sub)command report a usage error — an extra argument included — with its own
    usage line (`chatwootai serve extra` → "usage: chatwootai serve …"), not the top level's."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                sub.set_defaults(_parser=sub)
                _own_usage_errors(sub)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    _own_usage_errors(parser)
    args, extra = parser.parse_known_args(argv)
    if extra:
        getattr(args, "_parser", parser).error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command in STANDALONE:
        return STANDALONE[args.command](args)
    try:
        if args.command in LOCAL_COMMANDS:
            settings = _local_settings()
        else:
            settings = Settings.from_env()
            check_directories(settings)
    except ConfigError as exc:
        print(f"chatwootai: configuration error: {exc}", file=sys.stderr)
        return 2
    return COMMANDS[args.command](settings, args)


def _local_settings() -> Settings:
    """Settings for a command that serves nothing: every variable is still checked, except that
    no webhook credential is required."""
    from app.settings import read_dotenv

    env = {**read_dotenv(Path(".env")), **os.environ}
    credentials = ("WEBHOOK_AUTH_TOKEN", "CHATWOOT_WEBHOOK_SECRET")
    if not any((env.get(n) or env.get(f"{n}_FILE") or "").strip() for n in credentials):
        env["WEBHOOK_ALLOW_UNAUTHENTICATED"] = "true"
    return Settings.from_env(env)


if __name__ == "__main__":
    sys.exit(main())
