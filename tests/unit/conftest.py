"""Fixtures of the unit tier: a registry of the test's own, and runners on it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tasks import MemoryStore, Registry, Runner, Store
from tests.harness import RunnerFactory


@pytest.fixture
def registry() -> Registry:
    return Registry()


@pytest.fixture
async def make_runner(registry: Registry) -> AsyncIterator[RunnerFactory]:
    """``await make_runner(store=None, **options)``: a started runner of ``registry`` (on a
    memory store of its own unless given one), closed after the test."""
    runners: list[Runner] = []

    async def build(store: Store | None = None, **options: Any) -> Runner:
        options.setdefault("poll_interval", 0.05)
        options.setdefault("lease", 5.0)
        runner = Runner(registry, store or MemoryStore(), **options)
        await runner.start()
        runners.append(runner)
        return runner

    yield build
    for runner in runners:
        await runner.close()
