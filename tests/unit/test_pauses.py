"""Pausing a queue, through runners: nothing of it starts anywhere, running tasks finish,
submissions wait queued and held by nobody, and a resume runs them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Collection, Coroutine
from pathlib import Path
from typing import Any

import pytest

from tasks import (
    MemoryStore,
    Registry,
    Runner,
    SQLiteStore,
    State,
    Store,
    TaskRecord,
    UnknownQueue,
)
from tests.harness import WAIT

RunnerFactory = Callable[..., Coroutine[Any, Any, Runner]]


class WatchedStore(MemoryStore):
    """A memory store that counts reads of the paused queues, tells each claim's names, and
    with ``announces`` set, announces each pause as PostgreSQL does."""

    def __init__(self) -> None:
        super().__init__()
        self.paused_reads = 0
        self.claims: asyncio.Queue[frozenset[str]] = asyncio.Queue()
        self._watchers: list[Callable[[], None]] = []

    async def paused_queues(self) -> frozenset[str]:
        self.paused_reads += 1
        return await super().paused_queues()

    async def claim(self, owner: str, lease: float, **options: Any) -> list[TaskRecord]:
        names: Collection[str] | None = options.get("names")
        self.claims.put_nowait(frozenset(names or ()))
        return await super().claim(owner, lease, **options)

    async def set_paused(self, queue: str, paused: bool) -> None:
        await super().set_paused(queue, paused)
        for watcher in list(self._watchers):
            watcher()


class AnnouncingStore(WatchedStore):
    listening = True

    def watch_pauses(self, callback: Callable[[], None]) -> Callable[[], None]:
        self._watchers.append(callback)
        if self.listening:
            callback()  # as PostgreSQL's listener calls once connected
        return lambda: self._watchers.remove(callback)


@pytest.fixture
def registry() -> Registry:
    registry = Registry()

    @registry.task()
    async def note(label: str) -> str:
        return label

    @registry.task(queue="email")
    async def send(to: str) -> str:
        return to

    return registry


@pytest.fixture
async def make_runner(registry: Registry) -> AsyncIterator[RunnerFactory]:
    runners: list[Runner] = []

    async def build(store: Store, **options: Any) -> Runner:
        options.setdefault("poll_interval", 0.02)
        options.setdefault("lease", 30.0)
        runner = Runner(registry, store, **options)
        await runner.start()
        runners.append(runner)
        return runner

    yield build
    for runner in runners:
        await runner.close()


async def ended(runner: Runner, record: TaskRecord) -> TaskRecord:
    async with asyncio.timeout(WAIT):
        return await runner.wait(record.id, poll_interval=0.02)


async def claims_after(store: WatchedStore, rounds: int) -> list[frozenset[str]]:
    """The names of the next ``rounds`` claims any runner makes on ``store``."""
    while not store.claims.empty():
        store.claims.get_nowait()
    async with asyncio.timeout(WAIT):
        return [await store.claims.get() for _ in range(rounds)]


def assert_waiting_unheld(record: TaskRecord | None) -> None:
    assert record is not None
    assert (record.state, record.owner, record.attempts, record.started_at) == (
        State.QUEUED,
        None,
        0,
        None,
    )


async def test_a_paused_queue_starts_nothing_until_it_is_resumed(
    make_runner: RunnerFactory,
) -> None:
    store = WatchedStore()
    runner = await make_runner(store)
    await runner.pauses.pause("default")
    assert await store.paused_queues() == {"default"}

    waiting = [await runner.submit("note", {"label": str(n)}) for n in range(3)]
    other = await runner.submit("send", {"to": "a@example.com"})  # another queue runs
    assert (await ended(runner, other)).state is State.SUCCEEDED
    await runner.join()  # each was handed back at its start
    for claimed in await claims_after(store, 3):  # rounds go by: none claims them again
        assert claimed == {"send"}
    for record in waiting:
        assert_waiting_unheld(await store.get(record.id))
    assert runner.waiting == runner.running == 0

    await runner.pauses.resume("default")
    for record in waiting:
        assert (await ended(runner, record)).state is State.SUCCEEDED


async def test_running_tasks_of_a_paused_queue_finish(
    registry: Registry, make_runner: RunnerFactory
) -> None:
    gate, started = asyncio.Event(), asyncio.Event()

    @registry.task()
    async def block() -> str:
        started.set()
        await gate.wait()
        return "done"

    runner = await make_runner(MemoryStore())
    running = await runner.submit("block")
    async with asyncio.timeout(WAIT):
        await started.wait()
    await runner.pauses.pause("default")
    later = await runner.submit("note", {"label": "later"})
    gate.set()
    assert (await ended(runner, running)).result == "done"
    await runner.join()
    assert_waiting_unheld(await runner.store.get(later.id))


async def test_a_pause_through_one_runner_holds_back_a_task_another_accepts_right_after(
    registry: Registry, tmp_path: Path
) -> None:
    """Two processes on one SQLite file: the other reads the paused queues at each start."""
    path = tmp_path / "tasks.sqlite3"
    stores = [SQLiteStore(path), SQLiteStore(path)]
    runners = [Runner(registry, store, poll_interval=5.0) for store in stores]
    for store, runner in zip(stores, runners, strict=True):
        await store.open()
        await runner.start()
    pausing, other = runners
    try:
        await pausing.pauses.pause("default")  # the other runner has not heard of it
        assert other.pauses.paused == frozenset()
        record = await other.submit("note", {"label": "after the pause"})
        await other.join()
        assert_waiting_unheld(await stores[1].get(record.id))
        assert other.pauses.paused == {"default"}  # read at its start; its claims follow it

        await pausing.pauses.resume("default")  # this one claims at once
        assert (await ended(pausing, record)).state is State.SUCCEEDED
    finally:
        for store, runner in zip(stores, runners, strict=True):
            await runner.close()
            await store.close()


async def test_a_delayed_task_of_a_paused_queue_comes_due_and_waits_queued(
    make_runner: RunnerFactory,
) -> None:
    store = WatchedStore()
    runner = await make_runner(store)
    await runner.pauses.pause("default")
    record = await runner.submit("note", {"label": "later"}, delay=0.05)
    assert record.state is State.SCHEDULED
    async with asyncio.timeout(WAIT):  # each upkeep round, until it was taken and handed back
        while (found := await store.get(record.id)) is None or _due_or_held(found):
            await store.claims.get()
    assert_waiting_unheld(found)
    await runner.pauses.resume("default")
    assert (await ended(runner, record)).state is State.SUCCEEDED


def _due_or_held(record: TaskRecord) -> bool:
    return record.state is State.SCHEDULED or record.owner is not None


async def test_on_a_store_that_announces_pauses_starts_read_nothing(
    make_runner: RunnerFactory,
) -> None:
    """The paused queues stay in memory between announcements: no read per start."""
    store = AnnouncingStore()
    runner = await make_runner(store, poll_interval=5.0)  # no upkeep round in between
    other = await make_runner(store, poll_interval=5.0)
    reads = store.paused_reads
    for n in range(20):
        await ended(runner, await runner.submit("note", {"label": str(n)}))
    assert store.paused_reads == reads

    await other.pauses.pause("default")  # announced: the next start reads again
    held = await runner.submit("note", {"label": "held"})
    await runner.join()
    assert_waiting_unheld(await store.get(held.id))
    assert store.paused_reads > reads
    assert runner.pauses.paused == {"default"}


async def test_until_the_store_listens_each_start_reads(make_runner: RunnerFactory) -> None:
    """Announcements made before it listens would be lost: memory is not trusted yet."""
    store = AnnouncingStore()
    store.listening = False
    runner = await make_runner(store, poll_interval=5.0)
    reads = store.paused_reads
    for n in range(3):
        await ended(runner, await runner.submit("note", {"label": str(n)}))
    assert store.paused_reads == reads + 3


async def test_a_resume_announced_by_another_process_is_claimed_at_once(
    make_runner: RunnerFactory,
) -> None:
    store = AnnouncingStore()
    runner = await make_runner(store, poll_interval=5.0)
    await runner.pauses.pause("default")
    record = await runner.submit("note", {"label": "waits"})
    await runner.join()
    assert_waiting_unheld(await store.get(record.id))
    await store.set_paused("default", False)  # as a command or another server would
    assert (await ended(runner, record)).state is State.SUCCEEDED  # well within the poll


async def test_an_unknown_queue_cannot_be_paused(make_runner: RunnerFactory) -> None:
    store = MemoryStore()
    runner = await make_runner(store)
    for act in (runner.pauses.pause, runner.pauses.resume):
        with pytest.raises(UnknownQueue, match=r"no task waits in a queue named 'nope'.*default"):
            await act("nope")
    assert await store.paused_queues() == frozenset()
