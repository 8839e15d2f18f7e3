"""Settings.from_env(): the only reader of the environment (docs/configuration.md).

A `.env` file in the working directory is read when present (the process environment wins);
every secret may also be given as `NAME_FILE` pointing to a file. A bad value raises
`ConfigError` naming the variable; the CLI prints that one line and exits 2.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app import timespec
from app.errors import ConfigError

EXAMPLE_KNOWLEDGE_DIR = Path(__file__).parent / "example"

SECRETS = (
    "WEBHOOK_AUTH_TOKEN",
    "CHATWOOT_WEBHOOK_SECRET",
    "CHATWOOT_API_KEY",
    "CHATWOOT_ADMIN_API_KEY",
    "NGROK_AUTH_TOKEN",
    "VPS_PASSWORD",
    "LLM_API_KEY",
)

_SIZE = re.compile(r"^\s*(\d+)\s*([kKmMgG]?)\s*$")


@dataclass(frozen=True)
class Settings:
    # webhook
    webhook_host: str = "0.0.0.0"  # noqa: S104 - the appliance serves Chatwoot from outside
    webhook_port: int = 8001
    webhook_auth_token: str | None = field(default=None, repr=False)
    chatwoot_webhook_secrets: tuple[str, ...] = field(default=(), repr=False)
    webhook_use_https: bool = True
    webhook_max_body_bytes: int = 1_048_576
    webhook_allow_unauthenticated: bool = False
    # chatwoot
    chatwoot_base_url: str | None = None  # normalised: no trailing slash, no /api/v1
    chatwoot_api_key: str | None = field(default=None, repr=False)
    chatwoot_account_id: int | None = None
    chatwoot_admin_api_key: str | None = field(default=None, repr=False)
    chatwoot_agent_bot_id: int | None = None
    chatwoot_webhook_id: int | None = None
    register_mode: str = "agent_bot"
    # tunnel
    ngrok_auth_token: str | None = field(default=None, repr=False)
    ngrok_domain: str | None = None
    ngrok_api_url: str = "http://127.0.0.1:4040"
    public_url: str | None = None
    ngrok_path: Path | None = None  # the agent binary; unset: /usr/local/bin/ngrok, then PATH
    # vps / proxy
    vps_host: str | None = None
    vps_user: str | None = None
    vps_port: int = 22
    vps_ssh_key_file: Path | None = None
    vps_password: str | None = field(default=None, repr=False)
    proxy_container_name: str | None = None
    proxy_file_path: str | None = None
    auto_update_proxy: bool = False
    # llm
    llm_model: str | None = None
    llm_api_key: str | None = field(default=None, repr=False)
    llm_base_url: str | None = None
    llm_timeout_s: float = 30.0
    llm_max_calls_per_turn: int = 3
    # bot
    bot_name: str = "ChatwootAI"
    bot_language: str = "pt-BR"
    coalesce_window_ms: int = 2500
    bot_conversation_statuses: frozenset[str] = frozenset({"pending"})
    handoff_message: str | None = None
    handoff_label: str = "ai-handoff"
    handoff_team_id: int | None = None
    business_hours: dict[str, tuple[str, ...]] | None = None
    business_timezone: str = "America/Sao_Paulo"
    knowledge_dir: Path = EXAMPLE_KNOWLEDGE_DIR
    worker_concurrency: int = 4
    # storage / logs
    data_dir: Path = Path("./data")
    log_dir: Path = Path("./logs")
    log_level: str = "INFO"
    log_format: str = "text"
    log_rotate_size: str = "10M"
    log_rotate_keep: int = 7

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, dotenv: Path | None = None) -> Settings:
        """Build from `env` (default: `.env` merged under `os.environ`) and validate."""
        if env is None:
            merged = dict(read_dotenv(dotenv or Path(".env")))
            merged.update(os.environ)
            env = merged
        return cls(**_parse(_Reader(env)))

    @property
    def db_path(self) -> Path:
        return self.data_dir / "chatwootai.db"

    @property
    def secret_values(self) -> tuple[str, ...]:
        """Every configured secret, for the log redactor."""
        values = [
            self.webhook_auth_token,
            *self.chatwoot_webhook_secrets,
            self.chatwoot_api_key,
            self.chatwoot_admin_api_key,
            self.ngrok_auth_token,
            self.vps_password,
            self.llm_api_key,
        ]
        return tuple(v for v in values if v)

    @property
    def chatwoot_configured(self) -> bool:
        return bool(self.chatwoot_base_url and self.chatwoot_api_key and self.chatwoot_account_id)

    def describe(self) -> dict[str, object]:
        """Every setting with secrets masked: safe to print or log."""
        out: dict[str, object] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if not f.repr:
                value = "***" if value else None
            out[f.name] = value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
        return out


def read_dotenv(path: Path) -> dict[str, str]:
    """KEY=VALUE lines; `#` comments, optional `export `, optional single or double quotes."""
    if not path.is_file():
        return {}
    values: dict[str, str] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").strip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise ConfigError(f"{path}:{number}: expected KEY=VALUE")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key] = value
    return values


class _Reader:
    """Typed access to raw variables; every error names the variable."""

    def __init__(self, env: Mapping[str, str]):
        self.env = env

    def str(self, name: str, default: str | None = None) -> str | None:
        value = self.env.get(name)
        if value is None or value.strip() == "":
            return default
        return value.strip()

    def secret(self, name: str) -> str | None:
        direct = self.str(name)
        file_name = self.str(f"{name}_FILE")
        if direct and file_name:
            raise ConfigError(f"{name}: set either {name} or {name}_FILE, not both")
        if file_name:
            try:
                value = Path(file_name).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(f"{name}_FILE: cannot read {file_name} ({exc.strerror})") from None
            if not value:
                raise ConfigError(f"{name}_FILE: {file_name} is empty")
            return value
        return direct

    def int(self, name: str, default: int | None, *, minimum: int | None = None, maximum: int | None = None):
        raw = self.str(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{name}: expected a whole number, got {raw!r}") from None
        if minimum is not None and value < minimum:
            raise ConfigError(f"{name}: must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise ConfigError(f"{name}: must be at most {maximum}, got {value}")
        return value

    def float(self, name: str, default: float, *, minimum: float = 0.0) -> float:
        raw = self.str(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(f"{name}: expected a number, got {raw!r}") from None
        if value <= minimum:
            raise ConfigError(f"{name}: must be greater than {minimum}, got {raw}")
        return value

    def bool(self, name: str, default: bool) -> bool:
        raw = self.str(name)
        if raw is None:
            return default
        lowered = raw.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{name}: expected true or false, got {raw!r}")

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = (self.str(name) or default).lower()
        if value not in choices:
            raise ConfigError(f"{name}: expected one of {', '.join(choices)}, got {value!r}")
        return value

    def url(self, name: str, default: str | None = None) -> str | None:
        value = self.str(name, default)
        if value is None:
            return None
        if not re.match(r"^https?://[^/\s]+", value):
            raise ConfigError(f"{name}: expected an http(s) URL, got {value!r}")
        return value.rstrip("/")


def _parse(r: _Reader) -> dict[str, object]:
    s: dict[str, object] = {}
    s["webhook_host"] = r.str("WEBHOOK_HOST", "0.0.0.0")  # noqa: S104
    s["webhook_port"] = r.int("WEBHOOK_PORT", 8001, minimum=1, maximum=65535)
    s["webhook_auth_token"] = r.secret("WEBHOOK_AUTH_TOKEN")
    raw_secrets = r.secret("CHATWOOT_WEBHOOK_SECRET") or ""
    s["chatwoot_webhook_secrets"] = tuple(p.strip() for p in raw_secrets.split(",") if p.strip())
    s["webhook_use_https"] = r.bool("WEBHOOK_USE_HTTPS", True)
    s["webhook_max_body_bytes"] = r.int("WEBHOOK_MAX_BODY_BYTES", 1_048_576, minimum=1024)
    s["webhook_allow_unauthenticated"] = r.bool("WEBHOOK_ALLOW_UNAUTHENTICATED", False)
    if (
        not s["webhook_auth_token"]
        and not s["chatwoot_webhook_secrets"]
        and not s["webhook_allow_unauthenticated"]
    ):
        raise ConfigError(
            "WEBHOOK_AUTH_TOKEN: set it or CHATWOOT_WEBHOOK_SECRET (or WEBHOOK_ALLOW_UNAUTHENTICATED=true)"
            " - refusing to accept unauthenticated webhooks"
        )

    base = r.url("CHATWOOT_BASE_URL")
    if base:
        base = re.sub(r"/api/v1$", "", base)
    s["chatwoot_base_url"] = base
    s["chatwoot_api_key"] = r.secret("CHATWOOT_API_KEY")
    s["chatwoot_account_id"] = r.int("CHATWOOT_ACCOUNT_ID", None, minimum=1)
    s["chatwoot_admin_api_key"] = r.secret("CHATWOOT_ADMIN_API_KEY")
    s["chatwoot_agent_bot_id"] = r.int("CHATWOOT_AGENT_BOT_ID", None, minimum=1)
    s["chatwoot_webhook_id"] = r.int("CHATWOOT_WEBHOOK_ID", None, minimum=1)
    s["register_mode"] = r.choice("REGISTER_MODE", "agent_bot", ("agent_bot", "webhook", "off"))

    s["ngrok_auth_token"] = r.secret("NGROK_AUTH_TOKEN")
    s["ngrok_domain"] = r.str("NGROK_DOMAIN")
    s["ngrok_api_url"] = r.url("NGROK_API_URL", "http://127.0.0.1:4040")
    s["public_url"] = r.url("PUBLIC_URL")
    ngrok_path = r.str("NGROK_PATH")
    s["ngrok_path"] = Path(ngrok_path) if ngrok_path else None

    s["vps_host"] = r.str("VPS_HOST")
    s["vps_user"] = r.str("VPS_USER")
    s["vps_port"] = r.int("VPS_PORT", 22, minimum=1, maximum=65535)
    key_file = r.str("VPS_SSH_KEY_FILE")
    s["vps_ssh_key_file"] = Path(key_file) if key_file else None
    s["vps_password"] = r.secret("VPS_PASSWORD")
    s["proxy_container_name"] = r.str("PROXY_CONTAINER_NAME")
    s["proxy_file_path"] = r.str("PROXY_FILE_PATH")
    s["auto_update_proxy"] = r.bool("AUTO_UPDATE_PROXY", False)

    s["llm_model"] = r.str("LLM_MODEL")
    s["llm_api_key"] = r.secret("LLM_API_KEY")
    s["llm_base_url"] = r.url("LLM_BASE_URL")
    s["llm_timeout_s"] = r.float("LLM_TIMEOUT_S", 30.0)
    s["llm_max_calls_per_turn"] = r.int("LLM_MAX_CALLS_PER_TURN", 3, minimum=1, maximum=50)

    s["bot_name"] = r.str("BOT_NAME", "ChatwootAI")
    s["bot_language"] = r.str("BOT_LANGUAGE", "pt-BR")
    s["coalesce_window_ms"] = r.int("COALESCE_WINDOW_MS", 2500, minimum=0, maximum=60_000)
    statuses = frozenset(
        p.strip().lower() for p in (r.str("BOT_CONVERSATION_STATUSES", "pending") or "").split(",") if p.strip()
    )
    unknown = statuses - {"pending", "open", "snoozed", "resolved"}
    if unknown or not statuses:
        raise ConfigError(
            "BOT_CONVERSATION_STATUSES: expected a comma-separated list of pending, open, snoozed, resolved"
        )
    s["bot_conversation_statuses"] = statuses
    s["handoff_message"] = r.str("HANDOFF_MESSAGE")
    s["handoff_label"] = r.str("HANDOFF_LABEL", "ai-handoff")
    s["handoff_team_id"] = r.int("HANDOFF_TEAM_ID", None, minimum=1)
    s["business_hours"] = parse_business_hours(r.str("BUSINESS_HOURS"))
    timezone = r.str("BUSINESS_TIMEZONE", "America/Sao_Paulo")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"BUSINESS_TIMEZONE: unknown time zone {timezone!r}") from None
    s["business_timezone"] = timezone
    knowledge = Path(r.str("KNOWLEDGE_DIR") or EXAMPLE_KNOWLEDGE_DIR)
    if not knowledge.is_dir():
        raise ConfigError(f"KNOWLEDGE_DIR: {knowledge} is not a directory")
    s["knowledge_dir"] = knowledge
    s["worker_concurrency"] = r.int("WORKER_CONCURRENCY", 4, minimum=1, maximum=64)

    s["data_dir"] = Path(r.str("DATA_DIR", "./data"))
    s["log_dir"] = Path(r.str("LOG_DIR", "./logs"))
    s["log_level"] = r.choice("LOG_LEVEL", "INFO", ("trace", "debug", "info", "warning", "error")).upper()
    s["log_format"] = r.choice("LOG_FORMAT", "text", ("text", "json"))
    size = r.str("LOG_ROTATE_SIZE", "10M")
    if not _SIZE.match(size):
        raise ConfigError(f"LOG_ROTATE_SIZE: expected a size like 10M, 500k or 1G, got {size!r}")
    s["log_rotate_size"] = size.strip()
    s["log_rotate_keep"] = r.int("LOG_ROTATE_KEEP", 7, minimum=1, maximum=1000)
    return s


def parse_business_hours(raw: str | None) -> dict[str, tuple[str, ...]] | None:
    """`mon-fri 09:00-18:00; sat 09:00-13:00` (or `seg a sex 9h-18h; sáb 9h-13h`) →
    {"mon": ("09:00-18:00",), ...}; weekdays and spans as `app.timespec` reads them everywhere."""
    if raw is None:
        return None
    try:
        return timespec.week_text(raw)
    except timespec.TimeSpecError as exc:
        raise ConfigError(f"BUSINESS_HOURS: {exc} (expected e.g. 'mon-fri 09:00-18:00; sat 09:00-13:00')") from None


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
