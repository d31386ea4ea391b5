"""A worker's store follower keeps waking it whatever its store's reads do."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection
from datetime import datetime
from typing import Any

import pytest

from tasks import TaskRecord
from tasks.engine.follow import StoreFollower
from tests.harness import WAIT


class Runner:
    def __init__(self, wakes_wanted: int) -> None:
        self.wakes = 0
        self.woken = asyncio.Event()
        self._wanted = wakes_wanted

    def wake(self, *, if_more: bool = False) -> None:
        self.wakes += 1
        if self.wakes >= self._wanted:
            self.woken.set()

    def subscribe(self, listener: Callable[[TaskRecord], None]) -> Callable[[], None]:
        return lambda: None


class BrokenReads:
    """A store (no announcements: it is polled) whose next-due read fails unexpectedly."""

    async def next_due(self, names: Collection[str] | None = None) -> datetime | None:
        raise RuntimeError("a reader's bug")


class Alarm:
    def ring_at(self, moment: datetime) -> None:
        raise AssertionError("no moment was read")


async def test_an_unexpected_read_error_is_logged_and_the_follower_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    runner = Runner(wakes_wanted=3)
    store: Any = BrokenReads()
    alarm: Any = Alarm()
    follower = StoreFollower(runner, store, alarm, poll=0.01)
    follower.start()
    try:
        async with asyncio.timeout(WAIT):
            await runner.woken.wait()
    finally:
        await follower.stop()
    assert "reading the next due task failed" in caplog.text
