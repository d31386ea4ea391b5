"""Fixtures shared by the server tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.brokers import broker_config


@pytest.fixture(params=["store", "redis"])
def handoff(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """Workers take tasks from the store itself, or from a Redis stream of the test's own."""
    if request.param == "store":
        yield {"QUART_TASKS_RUN_TASKS": "false"}
        return
    with broker_config(request) as broker:
        yield broker.env()
