"""`chatwootai demo` driven through a pseudo-terminal, as a person would use it."""

import os
import re
import sys
import time

import pexpect
import pytest

PROMPT = "you ›"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class Terminal:
    def __init__(self, tmp_path, **extra_env):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("WEBHOOK_", "CHATWOOT_", "LLM_", "DATA_DIR", "LOG_", "KNOWLEDGE_DIR"))}
        # pexpect's terminal does not answer cursor-position requests; tell prompt_toolkit so.
        env.update(TERM="xterm", PROMPT_TOOLKIT_NO_CPR="1", **extra_env)
        self.child = pexpect.spawn(
            sys.executable,
            ["-m", "app.cli", "demo"], cwd=str(tmp_path), env=env, encoding="utf-8", timeout=90,
            dimensions=(60, 200),
        )
        self.transcript = ""

    def read_until(self, pattern: str, timeout: float = 90) -> str:
        try:
            self.child.expect(pattern, timeout=timeout)
        except (pexpect.EOF, pexpect.TIMEOUT) as exc:
            raise AssertionError(f"{pattern!r} not shown ({type(exc).__name__}); the screen so far:\n"
                                 f"{self.transcript}{ANSI.sub('', str(self.child.before))}") from None
        text = ANSI.sub("", self.child.before + self.child.after)
        self.transcript += text
        return text

    def say(self, line: str, until: str) -> str:
        """Type a line, then read until `until` and the next prompt; the text in between."""
        self.child.sendline(line)
        shown = self.read_until(re.escape(until))
        return shown + self.read_until(PROMPT)


@pytest.fixture
def demo(tmp_path):
    term = Terminal(tmp_path)
    yield term
    if term.child.isalive():
        term.child.terminate(force=True)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is not a running process (the demo reaps its children; init may be slower)
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def test_demo_answers_books_hands_off_goes_quiet_and_quits_cleanly(demo):
    banner = demo.read_until(PROMPT, timeout=120)
    assert "Bella Pele Cosméticos" in banner and "offline responder" in banner
    pids = {name: int(pid) for name, pid in re.findall(r"(web|worker) (?::\d+ )?\(pid (\d+)\)", banner)}
    assert set(pids) == {"web", "worker"} and all(alive(p) for p in pids.values())
    data_dir = re.search(r"data (\S+)", banner).group(1)

    price = demo.say("quanto custa o protetor solar?", "LLM call(s)")
    assert "is typing…" in price
    assert "Protetor Solar Facial FPS 50 — R$ 69,90" in price

    offer = demo.say("quero agendar uma limpeza de pele", "LLM call(s)")
    slots = re.findall(r"(\d)\. Limpeza de pele — (.+?)\s*$", offer, re.M)
    assert len(slots) >= 2, offer
    chosen = dict(slots)["2"]
    confirmation = demo.say("2", "LLM call(s)")
    assert "confirmado" in confirmation and chosen in confirmation

    assert "conversation 2" in demo.say("/new", "conversation 2")
    again = demo.say("quero agendar uma limpeza de pele", "LLM call(s)")
    offered_again = [when for _, when in re.findall(r"(\d)\. Limpeza de pele — (.+?)\s*$", again, re.M)]
    assert offered_again and chosen not in offered_again, (chosen, offered_again)

    handoff = demo.say("quero falar com um atendente", "LLM call(s)")
    assert "private note for the agents" in handoff and "Reason: customer asked for a human" in handoff
    assert "labels: ai-handoff" in handoff
    assert "conversation open — handed to a human agent" in handoff

    demo.say("/new", "conversation 3")
    demo.say("/agent Oi, aqui é a Ana. Vou te atender.", "bot stays quiet")
    quiet = demo.say("quanto custa o protetor solar?", "stays quiet")
    assert "a human agent handles this conversation" in quiet
    assert "R$" not in quiet and "is typing" not in quiet

    demo.child.sendline("/quit")
    demo.read_until("demo stopped", timeout=60)
    demo.child.expect(pexpect.EOF, timeout=30)
    demo.child.close()
    assert demo.child.exitstatus == 0
    deadline = time.monotonic() + 10
    while any(alive(p) for p in pids.values()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(p) for p in pids.values()), "a program outlived the demo"
    assert not os.path.exists(data_dir)


def test_demo_ctrl_d_stops_everything_too(demo):
    banner = demo.read_until(PROMPT, timeout=120)
    pids = [int(p) for p in re.findall(r"\(pid (\d+)\)", banner)]
    demo.child.sendeof()
    demo.child.expect(pexpect.EOF, timeout=60)
    demo.child.close()
    deadline = time.monotonic() + 10
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert pids and not any(alive(p) for p in pids)


def test_demo_uses_the_llm_when_configured_and_never_the_operators_chatwoot(tmp_path):
    """LLM_* reach the demo's programs; CHATWOOT_* (and the rest) from the environment or .env
    never do: demo replies must not go to a real Chatwoot."""
    from tests.fakes.chatwoot import checked_fake
    from tests.fakes.llm import FakeLLM

    with FakeLLM() as llm, checked_fake(bot_tokens=("real-bot-token-1",)) as chatwoot:
        (tmp_path / ".env").write_text(f"CHATWOOT_BASE_URL={chatwoot.url}\nCHATWOOT_API_KEY=real-bot-token-1\n"
                                       "CHATWOOT_ACCOUNT_ID=1\nWEBHOOK_AUTH_TOKEN=operator-token-1\n")
        term = Terminal(tmp_path, LLM_MODEL="fake-model", LLM_BASE_URL=llm.base_url, LLM_API_KEY="sk-demo-llm-1",
                        CHATWOOT_BASE_URL=chatwoot.url, CHATWOOT_API_KEY="real-bot-token-1")
        try:
            banner = term.read_until(PROMPT, timeout=120)
            assert "the LLM fake-model" in banner
            answer = term.say("quanto custa o protetor solar facial?", "LLM call(s)")
            assert "69,90" in answer and "2 LLM call(s)" in answer
            term.child.sendline("/quit")
            term.child.expect(pexpect.EOF, timeout=60)
        finally:
            if term.child.isalive():
                term.child.terminate(force=True)
        assert len(llm.calls) == 2
        assert chatwoot.requests == []


def test_demo_killed_with_sigterm_stops_its_programs(demo):
    import signal

    banner = demo.read_until(PROMPT, timeout=120)
    pids = [int(p) for p in re.findall(r"\(pid (\d+)\)", banner)]
    demo.child.kill(signal.SIGTERM)
    demo.child.expect(pexpect.EOF, timeout=60)
    demo.child.close()
    deadline = time.monotonic() + 10
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert pids and not any(alive(p) for p in pids)
