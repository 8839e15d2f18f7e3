"""`make run` (issue 7): web and worker under the image's supervisord.conf; Ctrl-C on the
terminal stops both and make exits 0 (it used to report `Error 1`)."""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support import ROOT, TOKEN, free_port

pytestmark = pytest.mark.slow


class Terminal:
    """`make run` on a pseudo-terminal, as a developer runs it."""

    def __init__(self, env: dict[str, str]):
        venv = Path(sys.prefix)
        stamp = venv / ".installed"
        # -o: never remake .env (it would be written into the checkout) nor the install stamp.
        argv = ["make", "--no-print-directory", "-o", ".env", "-o", str(stamp), "run", f"VENV={venv}"]
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: make on the terminal
            os.chdir(ROOT)
            os.execvpe("make", argv, env)  # noqa: S606 - make itself, as a developer types it
        self.output = b""

    def read(self, seconds: float) -> str:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.fd], [], [], 0.1)
            if ready:
                try:
                    self.output += os.read(self.fd, 65536)
                except OSError:
                    break
        return self.text

    @property
    def text(self) -> str:
        return self.output.decode(errors="replace")

    def wait_for(self, pattern: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if re.search(pattern, self.text):
                return
            self.read(0.2)
        raise AssertionError(f"no {pattern!r} in make run's output:\n{self.text[-4000:]}")

    def ctrl_c(self) -> None:
        os.write(self.fd, b"\x03")  # the terminal turns it into SIGINT for its foreground group

    def exit_status(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.read(0.2)
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.read(0.3)
                return os.waitstatus_to_exitcode(status)
        os.killpg(os.getpgid(self.pid), signal.SIGKILL)
        raise AssertionError(f"make run still running {timeout} s after Ctrl-C:\n{self.text[-4000:]}")


def test_ctrl_c_on_make_run_stops_web_and_worker_and_exits_0(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WEBHOOK_", "CHATWOOT_", "LLM_"))}
    env.update(DATA_DIR=str(tmp_path / "data"), LOG_DIR=str(tmp_path / "logs"), WEBHOOK_PORT=str(port),
               WEBHOOK_HOST="127.0.0.1", WEBHOOK_AUTH_TOKEN=TOKEN, TERM="dumb")
    make = Terminal(env)
    try:
        make.wait_for(r"web \| .*web listening", 60)
        make.wait_for(r"worker \| .*worker \S+ started", 60)
        assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200
    except BaseException:
        os.killpg(os.getpgid(make.pid), signal.SIGKILL)
        raise
    make.ctrl_c()
    status = make.exit_status(60)
    out = make.text
    assert status == 0, out[-3000:]
    assert "Error" not in out and "Interrupt" not in out
    assert re.search(r"stopped: (chatwootai:)?web \(exit status 0\)", out), out[-3000:]
    assert re.search(r"stopped: (chatwootai:)?worker \(exit status 0\)", out), out[-3000:]
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
