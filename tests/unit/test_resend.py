"""Writes the store refused are written again, the latest of each task, until they land."""

from __future__ import annotations

import asyncio

from tasks import State, TaskRecord
from tasks.engine.resend import Resend
from tasks.errors import StoreUnavailable


class FlakyStore:
    """An ``update`` that fails while ``down`` is set, and records what it wrote."""

    def __init__(self) -> None:
        self.down = True
        self.held = True
        self.written: list[TaskRecord] = []
        self.tried = asyncio.Event()

    async def update(self, record: TaskRecord) -> bool:
        self.tried.set()
        if self.down:
            raise StoreUnavailable("the store is away")
        self.written.append(record)
        return self.held


def resend_for(store: FlakyStore) -> tuple[Resend, list[tuple[str, bool]], list[str]]:
    settled: list[tuple[str, bool]] = []
    failures: list[str] = []
    resend = Resend(
        store.update,
        settled=lambda record, held: settled.append((record.state.value, held)),
        failed=lambda exc: failures.append(str(exc)),
    )
    return resend, settled, failures


async def test_only_the_latest_record_of_a_task_lands_and_every_waiter_hears() -> None:
    store = FlakyStore()
    resend, settled, failures = resend_for(store)
    record = TaskRecord.new("count", {"n": 1})
    running = resend.add(record.started())
    await store.tried.wait()  # a round met the outage
    ended = resend.add(record.started().finished(State.SUCCEEDED, result=1))
    assert record.id in resend
    store.down = False
    assert await asyncio.wait_for(asyncio.gather(running, ended), 10) == [True, True]
    assert [written.state for written in store.written] == [State.SUCCEEDED]
    assert settled == [("succeeded", True)]
    assert failures
    assert len(resend) == 0


async def test_a_task_no_longer_held_is_dropped_with_false() -> None:
    store = FlakyStore()
    store.down, store.held = False, False
    resend, settled, _ = resend_for(store)
    record = TaskRecord.new("count", {"n": 1})
    assert await asyncio.wait_for(resend.add(record.started()), 10) is False
    assert settled == [("running", False)]


async def test_close_stops_trying() -> None:
    store = FlakyStore()
    resend, _, _ = resend_for(store)
    resend.add(TaskRecord.new("count", {"n": 1}).started())
    await store.tried.wait()
    await resend.close()
    assert len(resend) == 1  # what never landed stays as the store last had it
