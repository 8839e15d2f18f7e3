"""The reliability tests' appliance: the real web and worker programs against a checked Chatwoot
fake (tests/reliability/harness.py). A module that needs another fake overrides `chatwoot`."""

from __future__ import annotations

import pytest

from tests.reliability.harness import appliances, chatwoot_fake


@pytest.fixture
def chatwoot():
    yield from chatwoot_fake()


@pytest.fixture
def appliance(tmp_path, chatwoot):
    yield from appliances(tmp_path, chatwoot)
