"""`chatwootai` — the appliance's command line (SPEC §11)."""

from __future__ import annotations

import argparse
import os
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
    "logs": _logs,
    "simulate": _simulate,
}
# Commands that read the configuration themselves: doctor reports a broken one as a row, and
# demo needs none at all.
STANDALONE: dict[str, Callable[[argparse.Namespace], int]] = {
    "doctor": _doctor,
    "demo": _demo,
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


def check_directories(settings: Settings) -> None:
    """DATA_DIR and LOG_DIR must be directories we can write: say so now, in one line, rather
    than as a traceback from the first SQLite or log write."""
    for name, path in (("DATA_DIR", settings.data_dir), ("LOG_DIR", settings.log_dir)):
        try:
            path.mkdir(parents=True, exist_ok=True)
            # One probe per process: web and worker start together (supervisord, demo) and a
            # shared name let one unlink the other's probe, failing start-up with ENOENT.
            probe = path / f".write-test-{os.getpid()}"
            probe.write_text("ok")
            probe.unlink()
        except OSError as exc:
            raise ConfigError(f"{name}: {path} is not a writable directory ({exc.strerror})") from None


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command in STANDALONE:
        return STANDALONE[args.command](args)
    try:
        settings = Settings.from_env()
        check_directories(settings)
    except ConfigError as exc:
        print(f"chatwootai: configuration error: {exc}", file=sys.stderr)
        return 2
    return COMMANDS[args.command](settings, args)


if __name__ == "__main__":
    sys.exit(main())
