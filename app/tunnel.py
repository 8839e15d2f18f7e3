"""`chatwootai tunnel`: the ngrok program under supervisord (SPEC §3, §9).

Runs the installed ngrok v3 agent through pyngrok with a config this module renders (a
`tunnels:` entry for the web port, `NGROK_DOMAIN` when set), opens that tunnel, and stays in the
foreground while the agent runs. When the agent dies the program exits non-zero, so supervisord
restarts it (and, when it keeps dying, the container stops and says so).

It does not start — one line saying why, exit 0 — when there is nothing for it to do:
`NGROK_AUTH_TOKEN` unset, `PUBLIC_URL` set, or no agent binary installed (an image built with
`NGROK_INSTALL=false`). pyngrok would download a binary it cannot find: the path is checked
first, so nothing is ever downloaded at run time.

The auth token goes into the rendered config file (mode 0600), never on the agent's command
line (where `ps` shows it) and never into a log line.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from app.settings import Settings

TUNNEL_NAME = "chatwoot"
DEFAULT_NGROK_PATH = Path("/usr/local/bin/ngrok")
STARTUP_TIMEOUT_S = 30


def find_agent(settings: Settings) -> Path | None:
    """The ngrok binary: NGROK_PATH when set (and only that), else the image's install path,
    else `ngrok` on PATH."""
    if settings.ngrok_path is not None:
        return settings.ngrok_path if _executable(settings.ngrok_path) else None
    if _executable(DEFAULT_NGROK_PATH):
        return DEFAULT_NGROK_PATH
    found = shutil.which("ngrok")
    return Path(found) if found else None


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def skip_reason(settings: Settings, agent: Path | None) -> str | None:
    """Why the tunnel is not started, or None when it should be."""
    if settings.public_url:
        return "PUBLIC_URL is set, the appliance is exposed without ngrok"
    if not settings.ngrok_auth_token:
        return "NGROK_AUTH_TOKEN is not set (set it for a public ngrok URL, or set PUBLIC_URL)"
    if agent is None:
        where = settings.ngrok_path or DEFAULT_NGROK_PATH
        return f"the ngrok agent is not installed ({where} not found; image built with NGROK_INSTALL=false?)"
    return None


def web_addr(settings: Settings) -> str:
    """host:port of the agent's local API, from NGROK_API_URL: where `register` reads it."""
    parts = urlsplit(settings.ngrok_api_url)
    return f"{parts.hostname or '127.0.0.1'}:{parts.port or 4040}"


def render_config(settings: Settings) -> dict[str, Any]:
    """The ngrok v3 agent config: the agent's API where `register` looks, one tunnel to the web
    port. Log format and level are the ones pyngrok can parse."""
    tunnel: dict[str, Any] = {"proto": "http", "addr": settings.webhook_port}
    if settings.ngrok_domain:
        tunnel["domain"] = settings.ngrok_domain
    return {
        "version": "3",
        "agent": {
            "authtoken": settings.ngrok_auth_token,
            "web_addr": web_addr(settings),
            "log_level": "info",
            "log_format": "term",
            "update_check": False,
        },
        "tunnels": {TUNNEL_NAME: tunnel},
    }


def write_config(settings: Settings) -> Path:
    """Write the config where only this user can read it (it holds the auth token)."""
    directory = settings.data_dir / "ngrok"
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    path = directory / "ngrok.yml"
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        yaml.safe_dump(render_config(settings), fh, sort_keys=False)
    os.replace(tmp, path)
    return path


def run_tunnel(settings: Settings) -> int:
    from loguru import logger

    from app.logs import setup_logging

    agent = find_agent(settings)
    reason = skip_reason(settings, agent)
    if reason is not None:
        print(f"tunnel not started: {reason}", flush=True)
        return 0
    assert agent is not None  # skip_reason said so
    redactor = setup_logging(settings, component="ngrok", filename=None)

    from pyngrok import conf, ngrok
    from pyngrok.exception import PyngrokError

    config_path = write_config(settings)
    # config_version "2": pyngrok drives the agent through /api/tunnels and the config's
    # `tunnels:` block (which ngrok v3 still reads) — the API `register` reads too.
    pyngrok_config = conf.PyngrokConfig(
        ngrok_path=str(agent),
        config_path=str(config_path),
        startup_timeout=STARTUP_TIMEOUT_S,
        config_version="2",
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        tunnel = ngrok.connect(name=TUNNEL_NAME, pyngrok_config=pyngrok_config)
    except PyngrokError as exc:
        logger.error("tunnel failed to start: {}", redactor(str(exc)).splitlines()[0][:300])
        ngrok.kill(pyngrok_config)
        return 1
    process = ngrok.get_ngrok_process(pyngrok_config)
    logger.info("tunnel up: {} -> port {} (agent pid {})", tunnel.public_url, settings.webhook_port,
                process.proc.pid)
    while not stop.is_set():
        code = process.proc.poll()
        # A stop signal reaches the agent too (same process group): its exit is then expected.
        if code is not None and not stop.wait(1.0):
            logger.error("ngrok agent exited with status {}: stopping so supervisord restarts the tunnel", code)
            return 1
        stop.wait(0.5)
    logger.info("stopping the ngrok agent")
    ngrok.kill(pyngrok_config)
    return 0


if __name__ == "__main__":  # pragma: no cover - `chatwootai tunnel` is the entry point
    sys.exit(run_tunnel(Settings.from_env()))
