"""Settings (docs/configuration.md): defaults, *_FILE secrets, .env, one clear error line naming the variable."""

import subprocess
import sys

import pytest

from app.errors import ConfigError
from app.settings import Settings, read_dotenv


def test_defaults(tmp_path):
    s = Settings.from_env({"WEBHOOK_AUTH_TOKEN": "t"})
    assert (s.webhook_port, s.webhook_host, s.webhook_max_body_bytes) == (8001, "0.0.0.0", 1_048_576)
    assert s.bot_conversation_statuses == {"pending"} and s.coalesce_window_ms == 2500
    assert s.llm_model is None and s.llm_max_calls_per_turn == 3 and s.worker_concurrency == 4
    assert s.knowledge_dir.name == "example" and s.register_mode == "agent_bot"


def test_no_mechanism_configured_refuses_start():
    with pytest.raises(ConfigError, match="WEBHOOK_AUTH_TOKEN"):
        Settings.from_env({})


def test_unauthenticated_must_be_explicit():
    assert Settings.from_env({"WEBHOOK_ALLOW_UNAUTHENTICATED": "true"}).webhook_allow_unauthenticated


def test_secret_rotation_list():
    s = Settings.from_env({"CHATWOOT_WEBHOOK_SECRET": "new, old"})
    assert s.chatwoot_webhook_secrets == ("new", "old")


def test_secret_from_file(tmp_path):
    f = tmp_path / "token"
    f.write_text("from-file\n")
    assert Settings.from_env({"WEBHOOK_AUTH_TOKEN_FILE": str(f)}).webhook_auth_token == "from-file"


def test_secret_file_missing_names_variable(tmp_path):
    with pytest.raises(ConfigError, match="^WEBHOOK_AUTH_TOKEN_FILE: cannot read"):
        Settings.from_env({"WEBHOOK_AUTH_TOKEN_FILE": str(tmp_path / "nope")})


def test_secret_and_file_both_set_is_an_error(tmp_path):
    f = tmp_path / "t"
    f.write_text("x")
    with pytest.raises(ConfigError, match="not both"):
        Settings.from_env({"WEBHOOK_AUTH_TOKEN": "a", "WEBHOOK_AUTH_TOKEN_FILE": str(f)})


@pytest.mark.parametrize(
    "name, value",
    [
        ("WEBHOOK_PORT", "eighty"),
        ("WEBHOOK_PORT", "70000"),
        ("WEBHOOK_USE_HTTPS", "maybe"),
        ("LLM_TIMEOUT_S", "-1"),
        ("COALESCE_WINDOW_MS", "x"),
        ("BOT_CONVERSATION_STATUSES", "waiting"),
        ("BUSINESS_HOURS", "monday 9-18"),
        ("BUSINESS_TIMEZONE", "Mars/Olympus"),
        ("KNOWLEDGE_DIR", "/does/not/exist"),
        ("CHATWOOT_BASE_URL", "chatwoot.local"),
        ("LOG_FORMAT", "xml"),
        ("LOG_ROTATE_SIZE", "big"),
        ("REGISTER_MODE", "magic"),
    ],
)
def test_bad_value_names_the_variable(name, value):
    with pytest.raises(ConfigError) as err:
        Settings.from_env({"WEBHOOK_AUTH_TOKEN": "t", name: value})
    assert str(err.value).startswith(f"{name}:")


def test_chatwoot_base_url_with_or_without_api_v1():
    a = Settings.from_env({"WEBHOOK_AUTH_TOKEN": "t", "CHATWOOT_BASE_URL": "https://cw.example.com/api/v1/"})
    b = Settings.from_env({"WEBHOOK_AUTH_TOKEN": "t", "CHATWOOT_BASE_URL": "https://cw.example.com"})
    assert a.chatwoot_base_url == b.chatwoot_base_url == "https://cw.example.com"


def test_business_hours_parsed():
    s = Settings.from_env({"WEBHOOK_AUTH_TOKEN": "t", "BUSINESS_HOURS": "mon-fri 09:00-18:00; sat 09:00-13:00"})
    assert s.business_hours["wed"] == ("09:00-18:00",) and s.business_hours["sat"] == ("09:00-13:00",)
    assert "sun" not in s.business_hours


def test_dotenv_file(tmp_path):
    env = tmp_path / ".env"
    env.write_text('# comment\nexport WEBHOOK_AUTH_TOKEN="quoted"\nWEBHOOK_PORT=9000\n')
    assert read_dotenv(env) == {"WEBHOOK_AUTH_TOKEN": "quoted", "WEBHOOK_PORT": "9000"}


def test_describe_masks_secrets():
    s = Settings.from_env({"WEBHOOK_AUTH_TOKEN": "supersecret", "LLM_API_KEY": "sk-abc"})
    text = str(s.describe()) + repr(s)
    assert "supersecret" not in text and "sk-abc" not in text


def test_cli_exits_2_with_one_line_and_no_traceback(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "WEBHOOK_PORT": "not-a-port", "WEBHOOK_AUTH_TOKEN": "t"}
    proc = subprocess.run([sys.executable, "-m", "app.cli", "serve"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60,
                          )
    assert proc.returncode == 2
    assert proc.stderr.strip() == "chatwootai: configuration error: WEBHOOK_PORT: expected a whole number, got 'not-a-port'"
    assert "Traceback" not in proc.stderr + proc.stdout


def test_cli_unwritable_data_dir_is_one_line(tmp_path):
    blocker = tmp_path / "file-not-dir"
    blocker.write_text("x")
    env = {"PATH": "/usr/bin:/bin", "WEBHOOK_AUTH_TOKEN": "t", "DATA_DIR": str(blocker / "data")}
    proc = subprocess.run([sys.executable, "-m", "app.cli", "serve"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("chatwootai: configuration error: DATA_DIR:")
