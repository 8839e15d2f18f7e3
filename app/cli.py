"""`chatwootai` — the appliance's command line (SPEC §11)."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path

from app.errors import ConfigError
from app.settings import Settings


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

    return dead_letters_command(settings, args.action, args.id)


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
}
# Commands that only read files: they run without the webhook credentials the programs need
# and without writing to DATA_DIR or LOG_DIR.
LOCAL_COMMANDS = {"knowledge"}


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
        help="list or replay Chatwoot requests that failed for good",
        epilog=_examples("chatwootai dead-letters list", "chatwootai dead-letters replay 12"),
        formatter_class=raw,
    )
    dl.add_argument("action", nargs="?", choices=("list", "replay"), default="list")
    dl.add_argument("id", nargs="?", type=int, help="the dead letter to replay")
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
    return parser


def _own_usage_errors(parser: argparse.ArgumentParser) -> None:
    """Let every (sub)command report a usage error — an extra argument included — with its own
    usage line (`chatwootai serve extra` → "usage: chatwootai serve …"), not the top level's."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                sub.set_defaults(_parser=sub)
                _own_usage_errors(sub)


def check_directories(settings: Settings) -> None:
    """DATA_DIR and LOG_DIR must be directories we can write: say so now, in one line, rather
    than as a traceback from the first SQLite or log write."""
    for name, path in (("DATA_DIR", settings.data_dir), ("LOG_DIR", settings.log_dir)):
        try:
            path.mkdir(parents=True, exist_ok=True)
            # A probe of this process's own (web and worker start together and would delete
            # each other's probe if it had a fixed name).
            fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=path)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise ConfigError(f"{name}: {path} is not a writable directory ({exc.strerror})") from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    _own_usage_errors(parser)
    args, extra = parser.parse_known_args(argv)
    if extra:
        getattr(args, "_parser", parser).error(f"unrecognized arguments: {' '.join(extra)}")
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
