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


def _check_config(settings: Settings, args: argparse.Namespace) -> int:
    # main() has already built the settings and checked the directories: reaching here is "ok".
    print("configuration ok")
    return 0


COMMANDS: dict[str, Callable[[Settings, argparse.Namespace], int]] = {
    "serve": _serve,
    "worker": _worker,
    "dead-letters": _dead_letters,
    "check-config": _check_config,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chatwootai", description="Self-hosted AI agent for Chatwoot.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("serve", help="run the web program (/webhook, /health, /ready, /metrics)")
    sub.add_parser("worker", help="run the worker: drain the inbox, answer, hand off")
    dl = sub.add_parser("dead-letters", help="list or replay Chatwoot requests that failed for good")
    dl.add_argument("action", nargs="?", choices=("list", "replay"), default="list")
    dl.add_argument("id", nargs="?", type=int, help="the dead letter to replay")
    sub.add_parser("check-config", help="validate the configuration (environment, .env, *_FILE) and exit")
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
