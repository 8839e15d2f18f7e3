"""`chatwootai` — the appliance's command line (SPEC §11)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

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


COMMANDS: dict[str, Callable[[Settings, argparse.Namespace], int]] = {
    "serve": _serve,
    "worker": _worker,
    "dead-letters": _dead_letters,
    "register": _register,
    "tunnel": _tunnel,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chatwootai", description="Self-hosted AI agent for Chatwoot.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("serve", help="run the web program (/webhook, /health, /ready, /metrics)")
    sub.add_parser("worker", help="run the worker: drain the inbox, answer, hand off")
    dl = sub.add_parser("dead-letters", help="list or replay Chatwoot requests that failed for good")
    dl.add_argument("action", nargs="?", choices=("list", "replay"), default="list")
    dl.add_argument("id", nargs="?", type=int, help="the dead letter to replay")
    from app.register import DEFAULT_INTERVAL_S, DEFAULT_TIMEOUT_S, INTERVAL_BOUNDS, TIMEOUT_BOUNDS

    reg = sub.add_parser("register", help="register the public URL with Chatwoot (agent bot or account webhook)")
    once_or_watch = reg.add_mutually_exclusive_group()
    once_or_watch.add_argument("--once", dest="watch", action="store_false", help="register once and exit (default)")
    once_or_watch.add_argument("--watch", dest="watch", action="store_true",
                               help="keep running; register again when the tunnel URL changes")
    reg.set_defaults(watch=False)  # both flags share `watch`: without this --once's default (True) wins
    reg.add_argument("--timeout", type=_seconds(*TIMEOUT_BOUNDS), default=DEFAULT_TIMEOUT_S,
                     help=f"seconds to wait for the ngrok tunnel (default {DEFAULT_TIMEOUT_S:g})")
    reg.add_argument("--interval", type=_seconds(*INTERVAL_BOUNDS), default=DEFAULT_INTERVAL_S,
                     help=f"seconds between polls of the tunnel (default {DEFAULT_INTERVAL_S:g})")
    sub.add_parser("tunnel", help="run the ngrok agent for the web port (when NGROK_AUTH_TOKEN is set)")
    return parser


def check_directories(settings: Settings) -> None:
    """DATA_DIR and LOG_DIR must be directories we can write: say so now, in one line, rather
    than as a traceback from the first SQLite or log write."""
    for name, path in (("DATA_DIR", settings.data_dir), ("LOG_DIR", settings.log_dir)):
        try:
            path.mkdir(parents=True, exist_ok=True)
            probe = path / ".write-test"
            probe.write_text("ok")
            probe.unlink()
        except OSError as exc:
            raise ConfigError(f"{name}: {path} is not a writable directory ({exc.strerror})") from None


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        check_directories(settings)
    except ConfigError as exc:
        print(f"chatwootai: configuration error: {exc}", file=sys.stderr)
        return 2
    return COMMANDS[args.command](settings, args)


if __name__ == "__main__":
    sys.exit(main())
