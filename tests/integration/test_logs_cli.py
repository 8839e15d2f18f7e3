"""`chatwootai logs` as a real process over log files in the formats app/logs.py writes."""

import gzip
import json
import os
import pty
import queue
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta

import pytest

from tests.support import TOKEN

T0 = datetime.now().replace(microsecond=0) - timedelta(minutes=5)


def line(offset_ms: int, component: str, message: str, level: str = "INFO", **fields) -> str:
    t = T0 + timedelta(milliseconds=offset_ms)
    extra = "".join(f" {k}={v}" for k, v in fields.items())
    return f"{t:%Y-%m-%d %H:%M:%S}.{t.microsecond // 1000:03d} {level: <7} [{component}] {message}{extra}\n"


def json_line(offset_ms: int, component: str, message: str, **fields) -> str:
    t = (T0 + timedelta(milliseconds=offset_ms)).astimezone()
    return json.dumps({"time": t.isoformat(), "level": "INFO", "component": component, "message": message,
                       **fields}) + "\n"


@pytest.fixture(autouse=True)
def fresh_t0():
    """Lines are written relative to T0, five minutes before the test starts (not before the
    module was imported: a long run would push them past --since)."""
    global T0
    T0 = datetime.now().replace(microsecond=0) - timedelta(minutes=5)


@pytest.fixture
def logdir(tmp_path):
    d = tmp_path / "logs"
    d.mkdir()
    return d


def env_for(logdir) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WEBHOOK_", "CHATWOOT_", "LLM_", "LOG_"))}
    env.update(WEBHOOK_AUTH_TOKEN=TOKEN, LOG_DIR=str(logdir), DATA_DIR=str(logdir.parent / "data"))
    return env


def run_logs(logdir, *args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "app.cli", "logs", *args], env=env_for(logdir), cwd=logdir.parent,
                          capture_output=True, text=True, timeout=60, **kw)


def write_two_logs(logdir):
    (logdir / "webhook.log").write_text(
        line(0, "web", "webhook queued", conversation=7)
        + line(300, "web", "webhook queued", conversation=8)
        + line(900, "web", "webhook rejected 401: bad signature", level="WARNING")
    )
    (logdir / "hub.log").write_text(
        line(100, "worker", "turn decided: reply", conversation=7)
        + line(200, "worker", "conversation failed: KeyError; it will be retried", level="ERROR", conversation=7)
        + "Traceback (most recent call last):\n  File \"x.py\", line 1\nKeyError: 'x'\n"
        + json_line(400, "hub", "conversation 1/8 handed off: customer asked for a human")
    )


def test_logs_merges_both_files_in_time_order(logdir):
    write_two_logs(logdir)
    result = run_logs(logdir)
    assert result.returncode == 0, result.stderr
    firsts = [x for x in result.stdout.splitlines() if x[:4].isdigit()]
    assert [x.split("] ", 1)[1].split(" conversation=")[0] for x in firsts] == [
        "webhook queued", "turn decided: reply", "conversation failed: KeyError; it will be retried",
        "webhook queued", "conversation 1/8 handed off: customer asked for a human",
        "webhook rejected 401: bad signature",
    ]
    out = result.stdout
    # the traceback stays under its record; the JSON line is printed as text
    assert out.index("KeyError: 'x'") < out.index("conversation=8")
    assert "INFO    [hub] conversation 1/8 handed off" in out
    assert "\x1b[" not in out  # a pipe, not a terminal: no colours


def test_logs_filters_by_conversation_and_component(logdir):
    write_two_logs(logdir)
    seven = run_logs(logdir, "--conversation", "7").stdout
    assert seven.count("conversation=7") == 3 and "conversation=8" not in seven and "KeyError: 'x'" in seven
    eight = run_logs(logdir, "--conversation", "8").stdout
    assert "handed off" in eight and "conversation=8" in eight and "conversation=7" not in eight
    web = run_logs(logdir, "--component", "web").stdout
    assert web.count("[web]") == 3 and "[worker]" not in web and "[hub]" not in web


def test_logs_colours_only_on_a_terminal(logdir):
    write_two_logs(logdir)
    controller, terminal = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "logs"], env=env_for(logdir), cwd=logdir.parent,
                            stdout=terminal, stderr=terminal, stdin=subprocess.DEVNULL)
    os.close(terminal)
    chunks = []
    while True:
        try:
            data = os.read(controller, 65536)
        except OSError:  # EIO: the program exited and closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=30)
    os.close(controller)
    shown = b"".join(chunks).decode()
    assert "\x1b[36m[web]\x1b[0m" in shown and "\x1b[35m[worker]\x1b[0m" in shown
    assert "\x1b[1;31mERROR\x1b[0m" in shown and "\x1b[33mWARNING\x1b[0m" in shown


def test_logs_since_reads_rotated_and_compressed_generations(logdir):
    (logdir / "webhook.log.2.gz").write_bytes(gzip.compress(line(-3_600_000, "web", "an hour ago").encode()))
    (logdir / "webhook.log.1").write_text(line(-60_000, "web", "a minute before T0"))
    os.utime(logdir / "webhook.log.2.gz", (time.time() - 100, time.time() - 100))
    (logdir / "webhook.log").write_text(line(0, "web", "at T0"))
    (logdir / "hub.log.1.gz").write_bytes(gzip.compress(line(-30_000, "worker", "half a minute before").encode()))
    (logdir / "hub.log").write_text("")
    everything = run_logs(logdir, "--since", "2h").stdout
    assert [x.split("] ")[1] for x in everything.splitlines()] == [
        "an hour ago", "a minute before T0", "half a minute before", "at T0"]
    recent = run_logs(logdir, "--since", "10m").stdout
    assert "an hour ago" not in recent and "a minute before T0" in recent
    without = run_logs(logdir).stdout  # no --since: only the current files
    assert without.splitlines() == [line(0, "web", "at T0").rstrip("\n")]
    bad = run_logs(logdir, "--since", "yesterday")
    assert bad.returncode == 2 and "--since" in bad.stderr


class Follower:
    def __init__(self, logdir, *args):
        self.proc = subprocess.Popen([sys.executable, "-m", "app.cli", "logs", "-f", *args], env=env_for(logdir),
                                     cwd=logdir.parent, stdout=subprocess.PIPE, text=True, start_new_session=True)
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for text in self.proc.stdout:
            self.lines.put(text)

    def expect(self, fragment: str, timeout: float = 15.0) -> list[str]:
        seen, deadline = [], time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                text = self.lines.get(timeout=0.1)
            except queue.Empty:
                continue
            seen.append(text)
            if fragment in text:
                return seen
        raise AssertionError(f"{fragment!r} not shown; got {seen}")

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(timeout=10)


def test_logs_follow_shows_appended_lines_and_survives_a_rotation(logdir):
    write_two_logs(logdir)
    follower = Follower(logdir)
    try:
        follower.expect("webhook rejected 401")  # the history first
        time.sleep(0.5)
        with (logdir / "hub.log").open("a") as f:
            f.write(line(1000, "worker", "appended to hub", conversation=9))
        follower.expect("appended to hub")
        with (logdir / "webhook.log").open("a") as f:
            f.write(line(1100, "web", "last line before rotation"))
        (logdir / "webhook.log").rename(logdir / "webhook.log.1")  # logrotate's rename
        (logdir / "webhook.log").write_text(line(1200, "web", "first line after rotation"))
        seen = follower.expect("first line after rotation")
        assert any("last line before rotation" in x for x in seen)
        with (logdir / "webhook.log").open("a") as f:
            f.write(line(1300, "web", "second line after rotation"))
        follower.expect("second line after rotation")
        (logdir / "hub.log").write_text("")  # copytruncate
        with (logdir / "hub.log").open("a") as f:
            f.write(line(1400, "worker", "after truncation"))
        follower.expect("after truncation")
    finally:
        follower.stop()


def test_logs_follow_filters_by_conversation(logdir):
    write_two_logs(logdir)
    follower = Follower(logdir, "--conversation", "9")
    try:
        time.sleep(1.0)
        with (logdir / "hub.log").open("a") as f:
            f.write(line(1000, "worker", "not this one", conversation=10))
            f.write(line(1001, "worker", "this one", conversation=9))
        seen = follower.expect("this one")
        assert not any("not this one" in x or "conversation=7" in x for x in seen)
    finally:
        follower.stop()
