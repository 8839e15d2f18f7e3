"""`chatwootai dead-letters list|replay ID|drop ID`: own --help, extra arguments refused, and no
webhook credentials needed to read the store."""

import pytest

from app import cli
from app.store import outbox
from app.worker.failures import FailureTracker
from app.worker.loop import open_worker_store


@pytest.fixture
def store_env(tmp_path, monkeypatch):
    """Only DATA_DIR and LOG_DIR: no WEBHOOK_AUTH_TOKEN, no CHATWOOT_WEBHOOK_SECRET, no .env."""
    monkeypatch.chdir(tmp_path)
    for name in ("WEBHOOK_AUTH_TOKEN", "CHATWOOT_WEBHOOK_SECRET", "WEBHOOK_ALLOW_UNAUTHENTICATED",
                 "CHATWOOT_BASE_URL", "CHATWOOT_API_KEY", "CHATWOOT_ACCOUNT_ID"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(f"{name}_FILE", raising=False)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LOG_DIR", str(tmp_path / "logs"))
    conn = open_worker_store(tmp_path / "data" / "chatwootai.db")
    conn.execute("INSERT INTO events (account_id, conversation_id, kind, answerable, payload, received_at)"
                 " VALUES (1, 31, 'message_created', 1, '{}', 0)")
    FailureTracker(max_failures=1).failed(conn, (1, 31), OverflowError("Python int too large"))
    yield conn
    conn.close()


def run(capsys, *argv):
    code = cli.main(["dead-letters", *argv])
    out = capsys.readouterr()
    return code, out.out + out.err


def test_list_reads_the_store_without_webhook_credentials(store_env, capsys):
    code, out = run(capsys)
    assert code == 0, out
    assert "event 1" in out and "1/31" in out and "OverflowError" in out
    assert run(capsys, "list")[0] == 0


def test_drop_removes_a_dead_letter(store_env, capsys):
    [letter] = outbox.list_dead_letters(store_env)
    code, out = run(capsys, "drop", str(letter["id"]))
    assert code == 0 and f"dead letter {letter['id']} dropped" in out
    assert outbox.list_dead_letters(store_env) == []
    code, out = run(capsys, "drop", str(letter["id"]))
    assert code == 1 and "no dead letter" in out


def test_replay_of_a_dead_event_puts_it_back_in_the_queue(store_env, capsys):
    [letter] = outbox.list_dead_letters(store_env)
    code, out = run(capsys, "replay", str(letter["id"]))
    assert code == 0 and "back in the worker's queue" in out
    assert store_env.execute("SELECT state FROM events").fetchone()[0] == "pending"


@pytest.mark.parametrize("sub", ["list", "replay", "drop"])
def test_each_subcommand_has_its_own_help(sub, capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(["dead-letters", sub, "--help"])
    out = capsys.readouterr().out
    assert exited.value.code == 0
    assert f"chatwootai dead-letters {sub}" in out
    assert ("ID" in out) == (sub != "list")


@pytest.mark.parametrize("argv", [["list", "extra"], ["drop"], ["replay"], ["drop", "1", "2"],
                                  ["drop", "x"], ["purge"]])
def test_bad_arguments_are_refused(argv, capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(["dead-letters", *argv])
    err = capsys.readouterr().err
    assert exited.value.code == 2 and "error:" in err
    assert argv[-1] in err or "required" in err or "invalid" in err
