"""Logging: secrets redacted everywhere, JSON lines, and the file reopened after logrotate moved it."""

import json
import re
from urllib.parse import quote, quote_plus

import pytest
from loguru import logger

from app import logs
from app.logs import setup_logging
from app.settings import Settings

SECRET = "sk-live-9f8e7d6c"


@pytest.fixture
def settings(tmp_path):
    def make(**env):
        return Settings.from_env({"WEBHOOK_AUTH_TOKEN": "tok-abcdef", "LLM_API_KEY": SECRET,
                                  "LOG_DIR": str(tmp_path), **env})
    yield make
    logger.remove()
    logs._fast_info = None  # later tests must not write to this test's files


def test_secrets_redacted_in_message_fields_and_exceptions(settings, tmp_path, capsys):
    setup_logging(settings(), component="test", filename="t.log")
    logger.bind(url="https://x/webhook?token=tok-abcdef").info("key is {}", SECRET)
    try:
        raise RuntimeError(f"auth failed with {SECRET}")
    except RuntimeError as exc:
        logger.opt(exception=exc).error("boom")
    written = (tmp_path / "t.log").read_text() + capsys.readouterr().out
    assert SECRET not in written and "tok-abcdef" not in written
    assert "key is ***" in written and "token=***" in written and "RuntimeError: auth failed with ***" in written


def test_json_format_one_object_per_line(settings, tmp_path):
    setup_logging(settings(LOG_FORMAT="json"), component="web", filename="j.log")
    logger.bind(conversation=7, delivery="d-9").info("webhook queued")
    [line] = [json.loads(x) for x in (tmp_path / "j.log").read_text().splitlines()]
    assert line["component"] == "web" and line["conversation"] == 7 and line["message"] == "webhook queued"


def test_file_reopened_after_logrotate_renamed_it(settings, tmp_path, monkeypatch):
    monkeypatch.setattr(logs._ReopeningFile, "CHECK_EVERY_S", 0.0)
    setup_logging(settings(), component="web", filename="webhook.log")
    logger.info("before rotation")
    (tmp_path / "webhook.log").rename(tmp_path / "webhook.log.1")
    logger.info("after rotation")
    assert "before rotation" in (tmp_path / "webhook.log.1").read_text()
    assert "after rotation" in (tmp_path / "webhook.log").read_text()
    assert "after rotation" not in (tmp_path / "webhook.log.1").read_text()


def test_debug_lines_only_at_debug_level(settings, tmp_path):
    setup_logging(settings(), component="web", filename="d.log")
    logger.debug("content: secret customer text")
    assert "customer text" not in (tmp_path / "d.log").read_text()
    setup_logging(settings(LOG_LEVEL="DEBUG"), component="web", filename="d.log")
    logger.debug("content: visible now")
    assert "visible now" in (tmp_path / "d.log").read_text()


def test_info_line_matches_loguru_lines_and_redacts(settings, tmp_path, capsys):
    setup_logging(settings(), component="web", filename="f.log")
    logs.info_line("webhook queued", delivery="d-1", account=1, conversation=7, note=f"has {SECRET}")
    logger.bind(delivery="d-1", account=1, conversation=7).info("via loguru")
    fast, slow = (tmp_path / "f.log").read_text().splitlines()
    assert fast.split(" ", 2)[2] == "INFO    [web] webhook queued delivery=d-1 account=1 conversation=7 note=has ***"
    assert slow.split(" ", 2)[2] == "INFO    [web] via loguru delivery=d-1 account=1 conversation=7"
    assert SECRET not in capsys.readouterr().out


def test_info_line_respects_the_level(settings, tmp_path):
    setup_logging(settings(LOG_LEVEL="WARNING"), component="web", filename="w.log")
    logs.info_line("webhook queued", delivery="d-2")
    assert not (tmp_path / "w.log").exists() or "d-2" not in (tmp_path / "w.log").read_text()


def test_info_line_in_json(settings, tmp_path):
    setup_logging(settings(LOG_FORMAT="json"), component="web", filename="j2.log")
    logs.info_line("webhook duplicate", delivery="d-3", conversation=9)
    line = json.loads((tmp_path / "j2.log").read_text())
    assert (line["message"], line["delivery"], line["conversation"], line["level"]) == (
        "webhook duplicate", "d-3", 9, "INFO")


# Tokens chosen to contain every character that URL-encoding, JSON or repr() rewrite (issue 7).
AWKWARD = ["tok+en/with=sign~and%pct", "sp ace+plus/slash==", "quo\"te'back\\slash", "ação-çé+/=", "+/= %+/="]


def _forms(secret: str) -> dict[str, str]:
    quoted = quote(secret, safe="")
    return {
        "raw": secret,
        "quote": quote(secret),
        "quote safe=''": quoted,
        "quote_plus": quote_plus(secret),
        "lower-case hex": re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), quoted),
        "json": json.dumps(secret)[1:-1],
        "json ascii": json.dumps(secret, ensure_ascii=True)[1:-1],
        "repr": repr(secret)[1:-1],
        "every byte encoded": "".join(f"%{b:02X}" for b in secret.encode()),
    }


@pytest.mark.parametrize("secret", AWKWARD)
def test_every_encoded_form_of_every_secret_is_redacted(settings, tmp_path, capsys, secret):
    setup_logging(settings(WEBHOOK_AUTH_TOKEN=secret), component="web", filename="forms.log")
    forms = _forms(secret)
    for name, form in forms.items():
        logger.info("{} uri: 'http://x/webhook?token={}&a=1'", name, form)
        logs.info_line(f"fast {name}", url=f"/webhook?token={form}")
    written = (tmp_path / "forms.log").read_text() + capsys.readouterr().out
    for name, form in forms.items():
        assert form not in written, f"{name} form of the token reached the log"
    assert written.count("token=***") == 4 * len(forms)  # file and stdout, loguru and the fast line


def test_redactor_leaves_other_text_alone():
    redact = logs.Redactor(["tok+en/x="])
    assert redact("a tok en/x= b") == "a tok en/x= b"  # a space is not a '+' in raw text
    assert redact("a tok%2Ben%2Fx%3D b tok+en/x=") == "a *** b ***"


def test_sanic_unhandled_exception_line_is_redacted(settings, tmp_path, capsys):
    # Sanic logs "Exception occurred while handling uri: '<the url as sent>'" with the traceback:
    # the real app, a route that fails, a client that sends the token URL-encoded.
    from app.web.app import create_app

    secret = "tok+en/with=sign~and%pct"
    cfg = settings(WEBHOOK_AUTH_TOKEN=secret, DATA_DIR=str(tmp_path / "data"))
    setup_logging(cfg, component="web", filename="sanic.log")
    app = create_app(cfg)

    @app.post("/boom")
    async def boom(request):
        raise RuntimeError(f"failed for {request.url}")

    _, response = _post(app, f"/boom?token={quote_plus(secret)}")
    assert response.status == 500
    written = (tmp_path / "sanic.log").read_text() + capsys.readouterr().out
    assert "Exception occurred while handling uri" in written and "token=***" in written
    for form in _forms(secret).values():
        assert form not in written


def _post(app, url):
    import asyncio

    async def go():
        return await app.asgi_client.post(url)

    return asyncio.run(go())
