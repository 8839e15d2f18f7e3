"""The worker's crew path end to end: real web and worker programs, the LLM fake and the
Chatwoot fake over loopback."""

import pytest

from tests.fakes.llm import FakeLLM

LLM_KEY = "sk-e2e-llm-key-4d5e6f7a8b9c"


@pytest.fixture
def llm():
    with FakeLLM() as fake:
        yield fake


def llm_env(llm):
    return {"LLM_MODEL": "fake-model", "LLM_BASE_URL": llm.base_url, "LLM_API_KEY": LLM_KEY,
            "LLM_TIMEOUT_S": "20"}


def test_crew_answers_with_catalog_data_through_the_real_programs(appliance, llm):
    app = appliance(**llm_env(llm))
    app.customer_says(201, "quanto custa o protetor solar facial?")
    [reply] = app.wait_replies(201, timeout=60)  # the first turn also pays for crewai's import
    assert "69,90" in reply["content"]
    assert len(llm.calls) == 2  # one classification, one crew answer
    assert all(c.headers.get("authorization") == f"Bearer {LLM_KEY}" for c in llm.calls)


def test_llm_error_is_a_handoff_whose_note_carries_no_secret(appliance, chatwoot, llm):
    llm.push({"status": 401, "body": {"error": {"message": f"Incorrect API key provided: {LLM_KEY}"}}})
    app = appliance(**llm_env(llm))
    app.customer_says(202, "quanto custa o protetor solar facial?")
    chatwoot.wait_for(lambda reqs: any(r.path.endswith("/202/toggle_status") for r in reqs), timeout=60)
    [note] = [m for m in chatwoot.messages(202) if m["private"]]
    assert "LLM failed in the classification" in note["content"]
    assert LLM_KEY not in note["content"]
    assert LLM_KEY not in app.worker.output() and LLM_KEY not in (app.tmp / "logs" / "hub.log").read_text()
