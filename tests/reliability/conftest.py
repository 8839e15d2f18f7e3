"""The reliability suite (issue 11): real programs broken on purpose, one summary line each.

Reuses the end-to-end appliance (the real web and worker programs, the Chatwoot fake).
"""

from __future__ import annotations

import pytest

from tests.fakes.chatwoot import checked_fake
from tests.integration.conftest import ADMIN_TOKEN, BOT_TOKEN, Appliance


@pytest.fixture
def chatwoot():
    with checked_fake(bot_tokens=(BOT_TOKEN,), user_tokens=(ADMIN_TOKEN,)) as fake:
        yield fake


@pytest.fixture
def appliance(tmp_path, chatwoot):
    started: list[Appliance] = []

    def start(**env) -> Appliance:
        app = Appliance(tmp_path, chatwoot, **env).start()
        started.append(app)
        return app

    yield start
    for app in started:
        app.stop()


def summary(name: str, **figures: object) -> str:
    """The one line each reliability test prints (quoted in the issue's resolution)."""
    line = f"[reliability] {name}: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in figures.items())
    print("\n" + line)
    return line
