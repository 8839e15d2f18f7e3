"""The hub keeps its crewai LLMs across turns (building one per turn cost ~25 ms of CPU);
each concurrent turn still gets its own LLM and its own budget."""

from __future__ import annotations

import asyncio

from tests.integration.test_hub_llm import crewai_loaded, fake_llm, make_settings, make_turn  # noqa: F401


def test_turns_reuse_llms_and_keep_their_own_budgets(crewai_loaded, fake_llm, tmp_path):  # noqa: F811
    from app.hub.hub import Hub

    fake_llm.delay = 0.2  # both turns are in flight at the same time
    hub = Hub(make_settings(tmp_path, fake_llm))

    async def two_at_once():
        return await asyncio.gather(
            hub.decide(make_turn("Quanto custa o protetor solar facial?", 1)),
            hub.decide(make_turn("Vocês fazem entrega para o Rio?", 2)),
        )

    try:
        first = asyncio.run(two_at_once())
        assert [d.action for d in first] == ["reply", "reply"]
        assert [d.llm_calls for d in first] == [2, 2]  # each turn counted only its own calls
        built = hub._llms.built
        assert built == 4  # two turns at once: a classifier and a crew LLM each
        fake_llm.delay = 0.0
        for n in range(3):
            d = asyncio.run(hub.decide(make_turn("Quanto custa o hidratante facial?", 10 + n)))
            assert d.action == "reply" and d.llm_calls == 2
        assert hub._llms.built == built  # later turns borrowed, nothing new was built
    finally:
        hub.close()
