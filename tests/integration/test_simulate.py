"""`chatwootai simulate` against the real web and worker programs and the Chatwoot fake."""

import re

from tests.support import free_port

STEPS = ("accepted", "claimed", "routed", "decided", "posted")


def simulate(app, *args, **env):
    import subprocess
    import sys

    full_env = dict(app.worker.env)
    full_env.update(env)
    return subprocess.run([sys.executable, "-m", "app.cli", "simulate", *args], env=full_env, cwd=app.tmp,
                          capture_output=True, text=True, timeout=120)


def step_lines(out: str) -> list[tuple[str, str]]:
    """(step, detail) of each `  +   12 ms  step  detail` line, in printed order."""
    found = []
    for line in out.splitlines():
        m = re.match(r"^\s+\+\s*(\d+) ms\s+(\S+(?: sent)?)\s+(.*)$", line)
        if m:
            found.append((m.group(2), m.group(3)))
    return found


def test_simulate_prints_each_step_and_exits_0(appliance, chatwoot):
    app = appliance()
    result = simulate(app, "quanto custa o hidratante facial?", "--conversation", "301", "--contact", "Maria")
    assert result.returncode == 0, result.stdout + result.stderr
    steps = step_lines(result.stdout)
    assert [s for s, _ in steps] == list(STEPS)
    details = dict(steps)
    assert details["accepted"] == "200 queued"
    assert details["routed"] == "intent sales → offline responder"
    assert details["decided"].startswith("reply, 0 LLM call(s)")
    [reply] = [m for m in chatwoot.messages(301) if not m["private"]]
    assert details["posted"] == f"reply (Chatwoot message {reply['id']})"
    assert "│ " + reply["content"].splitlines()[0] in result.stdout and "R$ 49,90" in result.stdout
    # and the logs of both programs tell the same story, merged, for that conversation
    import subprocess
    import sys

    logs = subprocess.run([sys.executable, "-m", "app.cli", "logs", "--conversation", "301"], env=app.worker.env,
                          cwd=app.tmp, capture_output=True, text=True, timeout=60).stdout
    assert logs.index("[web] webhook queued") < logs.index("[worker] turn decided: reply") < logs.index(
        "[worker] reply sent")


def test_simulate_handoff_shows_every_request(appliance, chatwoot):
    app = appliance()
    result = simulate(app, "quero falar com um atendente", "--conversation", "302")
    assert result.returncode == 0, result.stdout
    steps = step_lines(result.stdout)
    assert dict(steps[:4])["decided"].startswith("handoff, 0 LLM call(s)")
    posted = [d.split(" ")[0] for s, d in steps if s == "posted"]
    assert posted == ["handoff_message", "note", "labels", "status_open"]
    assert "│ ai-handoff" in result.stdout
    assert chatwoot.conversation(302)["status"] == "open"


def test_simulate_without_chatwoot_says_not_sent_with_the_text(appliance, chatwoot):
    app = appliance(CHATWOOT_BASE_URL="")
    result = simulate(app, "quanto custa o protetor solar?", "--conversation", "303")
    assert result.returncode == 0, result.stdout
    assert ("not sent", "reply: no Chatwoot configured") in step_lines(result.stdout)
    assert "Protetor Solar" in result.stdout and "R$ 69,90" in result.stdout
    assert chatwoot.requests == []


def test_simulate_exits_1_when_the_worker_is_stopped(appliance):
    app = appliance()
    app.worker.stop()
    result = simulate(app, "oi", "--conversation", "304", "--timeout", "3")
    assert result.returncode == 1
    assert [s for s, _ in step_lines(result.stdout)] == ["accepted"]
    assert "nothing decided within 3 s" in result.stdout and "chatwootai worker" in result.stdout


def test_simulate_exits_1_when_the_web_program_does_not_answer(appliance):
    app = appliance()
    result = simulate(app, "oi", "--timeout", "3", WEBHOOK_PORT=str(free_port()))
    assert result.returncode == 1 and "not delivered" in result.stdout and "chatwootai serve" in result.stdout


def test_simulate_with_other_credentials_is_refused_with_the_fix(appliance):
    app = appliance()
    result = simulate(app, "oi", WEBHOOK_AUTH_TOKEN="another-token-123", CHATWOOT_WEBHOOK_SECRET="another-secret-1")
    assert result.returncode == 1 and "HTTP 401" in result.stdout and "WEBHOOK_AUTH_TOKEN" in result.stdout
    assert "another-token-123" not in result.stdout


def test_simulate_in_a_conversation_a_human_took_over_says_the_bot_stays_quiet(appliance):
    app = appliance()
    app.agent_says(305, "Oi, aqui é a Ana")
    result = simulate(app, "quanto custa o protetor solar?", "--conversation", "305", "--timeout", "10")
    assert result.returncode == 1
    assert "a human handles conversation 305" in result.stdout


def test_simulate_with_the_llm_names_the_crew_and_counts_the_calls(appliance, chatwoot):
    from tests.fakes.llm import FakeLLM

    with FakeLLM() as llm:
        app = appliance(LLM_MODEL="fake-model", LLM_BASE_URL=llm.base_url, LLM_API_KEY="sk-simulate-llm-1",
                        LLM_TIMEOUT_S="20")
        result = simulate(app, "quanto custa o protetor solar facial?", "--conversation", "306")
    assert result.returncode == 0, result.stdout
    details = dict(step_lines(result.stdout))
    assert details["routed"] == "intent sales → sales crew"
    assert details["decided"].startswith("reply, 2 LLM call(s)")
    assert "69,90" in result.stdout
