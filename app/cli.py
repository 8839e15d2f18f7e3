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

    return dead_letters_command(settings, args.action or "list", getattr(args, "id", None))


COMMANDS: dict[str, Callable[[Settings, argparse.Namespace], int]] = {
    "serve": _serve,
    "worker": _worker,
    "dead-letters": _dead_letters,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chatwootai", description="Self-hosted AI agent for Chatwoot.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("serve", help="run the web program (/webhook, /health, /ready, /metrics)")
    sub.add_parser("worker", help="run the worker: drain the inbox, answer, hand off")
    dl = sub.add_parser("dead-letters", help="list, replay or drop what failed for good (default: list)",
                        description="Chatwoot requests that failed for good, and events whose conversation's turn"
                        " kept failing. Reads the store: no webhook credentials needed.")
    dl_sub = dl.add_subparsers(dest="action", metavar="ACTION")
    dl_sub.add_parser("list", help="show every dead letter", description="Show every dead letter.")
    replay = dl_sub.add_parser("replay", help="send a request again, or put an event back in the queue",
                               description="Send a dead request to Chatwoot again, or put a dead event back in"
                               " the worker's queue.")
    replay.add_argument("id", type=int, metavar="ID", help="the dead letter's ID (see `dead-letters list`)")
    drop = dl_sub.add_parser("drop", help="discard a dead letter once handled",
                             description="Discard a dead letter (handled, or nothing to do).")
    drop.add_argument("id", type=int, metavar="ID", help="the dead letter's ID (see `dead-letters list`)")
    return parser


# Commands that only read or mend the store: they run without the webhook's credentials.
STORE_COMMANDS = frozenset({"dead-letters"})


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
        settings = Settings.from_env(require_webhook_auth=args.command not in STORE_COMMANDS)
        check_directories(settings)
    except ConfigError as exc:
        print(f"chatwootai: configuration error: {exc}", file=sys.stderr)
        return 2
    return COMMANDS[args.command](settings, args)


if __name__ == "__main__":
    sys.exit(main())
