"""A stored task is always scheduled: cancelling its submitter cannot strand it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tasks import MemoryStore, Registry, Runner, SQLiteStore, State, StoreUnavailable, TaskRecord

WAIT = 30.0


class SlowCreate(MemoryStore):
    """A memory store whose ``create`` commits, then waits until the test lets it return."""

    def __init__(self) -> None:
        super().__init__()
        self.committed = asyncio.Event()
        self.proceed = asyncio.Event()

    async def create(self, record: TaskRecord, *, owner: str | None, lease: float) -> None:
        await super().create(record, owner=owner, lease=lease)
        self.committed.set()
        await self.proceed.wait()


@pytest.fixture
def registry() -> Registry:
    registry = Registry()

    @registry.task()
    async def noop() -> None:
        return None

    return registry


@pytest.fixture
async def slow_runner(registry: Registry) -> AsyncIterator[Runner]:
    runner = Runner(registry, SlowCreate(), poll_interval=0.05, lease=5.0)
    await runner.start()
    yield runner
    await runner.close()


async def only_record(runner: Runner) -> TaskRecord:
    (record,) = await runner.store.query()
    return record


async def test_a_submit_cancelled_mid_create_still_runs_its_task(slow_runner: Runner) -> None:
    store = slow_runner.store
    assert isinstance(store, SlowCreate)
    submit = asyncio.ensure_future(slow_runner.submit("noop"))
    async with asyncio.timeout(WAIT):
        await store.committed.wait()
    submit.cancel()
    with pytest.raises(asyncio.CancelledError):
        await submit
    assert slow_runner.waiting == 1  # counted while it is being stored
    store.proceed.set()
    record = await only_record(slow_runner)
    async with asyncio.timeout(WAIT):
        done = await slow_runner.wait(record.id)
    assert done.state is State.SUCCEEDED


async def test_a_submit_cancelled_mid_create_during_a_drain_is_handed_back(
    slow_runner: Runner,
) -> None:
    store = slow_runner.store
    assert isinstance(store, SlowCreate)
    submit = asyncio.ensure_future(slow_runner.submit("noop"))
    async with asyncio.timeout(WAIT):
        await store.committed.wait()
    submit.cancel()
    drain = asyncio.ensure_future(slow_runner.drain())
    store.proceed.set()
    async with asyncio.timeout(WAIT):
        await drain
    with pytest.raises(asyncio.CancelledError):
        await submit
    record = await only_record(slow_runner)
    assert (record.state, record.owner) == (State.QUEUED, None)  # any runner may claim it


async def test_a_cancelled_submit_on_sqlite_commits_and_runs(
    registry: Registry, tmp_path: Path
) -> None:
    runner = Runner(registry, SQLiteStore(tmp_path / "tasks.sqlite3"), poll_interval=0.05)
    await runner.store.open()
    await runner.start()
    succeeded: set[str] = set()
    all_done = asyncio.Event()

    def on_write(record: TaskRecord) -> None:
        if record.state is State.SUCCEEDED:
            succeeded.add(record.id)
            if len(succeeded) == 50:
                all_done.set()

    runner.subscribe(on_write)
    try:
        submits = [asyncio.ensure_future(runner.submit("noop")) for _ in range(50)]
        await asyncio.sleep(0)  # each submission has handed its insert to the store
        for submit in submits:
            submit.cancel()
        await asyncio.gather(*submits, return_exceptions=True)
        async with asyncio.timeout(WAIT):
            await all_done.wait()
        records = await runner.store.query(limit=100)
        assert {record.id for record in records} == succeeded
    finally:
        await runner.close()
        await runner.store.close()


async def test_a_cancel_whose_write_fails_leaves_the_task_scheduled(registry: Registry) -> None:
    class FailingCancel(MemoryStore):
        async def update(self, record: TaskRecord, *, owner: str) -> bool:
            if record.state is State.CANCELLED:
                raise StoreUnavailable("the disk is gone")
            return await super().update(record, owner=owner)

    runner = Runner(registry, FailingCancel(), max_running=1, poll_interval=0.05, lease=5.0)
    await runner.start()
    release = asyncio.Event()

    @registry.task()
    async def hold() -> None:
        await release.wait()

    try:
        await runner.submit("hold")
        waiting = await runner.submit("noop")
        with pytest.raises(StoreUnavailable):
            await runner.cancel(waiting.id)
        assert runner.waiting == 1
        release.set()
        async with asyncio.timeout(WAIT):
            done = await runner.wait(waiting.id)
        assert done.state is State.SUCCEEDED
    finally:
        await runner.close()
