"""The public URL: how it is picked from the ngrok agent's answer, shaped into the URL Chatwoot
calls, redacted for logs, and recorded in DATA_DIR/public_url (where /ready shows it).

Pure helpers shared by `register`, `doctor` and the tests; no Chatwoot, no network.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

PUBLIC_URL_FILE = "public_url"


def webhook_url(public_url: str, token: str | None) -> str:
    """`{public_url}/webhook`, with `?token=` (percent-encoded) when a token is configured."""
    url = public_url.rstrip("/") + "/webhook"
    return f"{url}?token={quote(token, safe='')}" if token else url


def redact_url(url: str | None) -> str | None:
    """The URL with its `token` query value replaced by *** (safe to log)."""
    if not url:
        return url
    parts = urlsplit(url)
    if not parts.query:
        return url
    query = [(k, "***" if k.lower() == "token" else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    return urlunsplit(parts._replace(query=urlencode(query, safe="*")))


def pick_tunnel(payload: Any, port: int, *, https_only: bool) -> str | None:
    """The public URL of the tunnel to `port` in an `/api/tunnels` answer: https preferred, http
    only when allowed."""
    tunnels = payload.get("tunnels") if isinstance(payload, dict) else None
    https, http = [], []
    for tunnel in tunnels if isinstance(tunnels, list) else []:
        if not isinstance(tunnel, dict):
            continue
        addr = str((tunnel.get("config") or {}).get("addr", ""))
        if not re.search(rf"(^|:){port}/?$", addr):
            continue
        url = str(tunnel.get("public_url") or "").rstrip("/")
        if url.startswith("https://"):
            https.append(url)
        elif url.startswith("http://"):
            http.append(url)
    if https:
        return https[0]
    return None if https_only or not http else http[0]


def write_public_url(data_dir: Path, url: str) -> bool:
    """Atomically write DATA_DIR/public_url; True when its content changed."""
    path = Path(data_dir) / PUBLIC_URL_FILE
    try:
        previous = path.read_text(encoding="utf-8").strip()
    except OSError:
        previous = None
    if previous == url:
        return False
    tmp = path.with_name(f".{PUBLIC_URL_FILE}.{os.getpid()}.tmp")
    tmp.write_text(url + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return True


def read_public_url(data_dir: Path) -> str | None:
    """What `register` last recorded in DATA_DIR/public_url, or None."""
    try:
        return (Path(data_dir) / PUBLIC_URL_FILE).read_text(encoding="utf-8").strip() or None
    except OSError:
        return None
