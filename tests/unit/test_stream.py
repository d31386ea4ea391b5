"""ChangeFeed: following the store's change log, woken by local writes and by polling."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import aclosing
from pathlib import Path

import pytest

from tasks import Change, ChangeFeed, MemoryStore, Registry, Runner, SQLiteStore, TaskRecord

registry = Registry()
gate: dict[str, asyncio.Event] = {}


@registry.task()
async def held(key: str) -> str:
    """Waits until the test opens its gate."""
    await gate[key].wait()
    return key


@pytest.fixture
async def runner() -> AsyncIterator[Runner]:
    store = MemoryStore()
    await store.open()
    active = Runner(registry, store, progress_interval=0)
    await active.start()
    yield active
    for event in gate.values():
        event.set()
    await active.join()
    await active.close()


async def next_change(changes: AsyncIterator[Change | None], timeout: float = 5.0) -> Change:
    async with asyncio.timeout(timeout):
        while True:
            change = await anext(changes)
            if change is not None:
                return change


async def test_follow_yields_stored_changes_then_local_writes_at_once(runner: Runner) -> None:
    gate["a"] = asyncio.Event()
    first = await runner.submit("held", {"key": "a"})
    # A poll interval far beyond the test's time limit: only the runner's listener can wake it.
    feed = ChangeFeed(runner.store, runner.subscribe, poll_interval=3600)
    await feed.start()
    try:
        async with aclosing(feed.follow(0)) as changes:
            seen = await next_change(changes)
            assert seen.record.id == first.id
            gate["a"].set()
            states: list[str] = []
            while not states or states[-1] != "succeeded":
                change = await next_change(changes)
                assert change.seq > seen.seq
                seen = change
                states.append(change.record.state.value)
            assert seen.record.result == "a"
    finally:
        await feed.close()


async def test_follow_sees_writes_made_through_another_store(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite3"
    reader, writer = SQLiteStore(path), SQLiteStore(path)
    await reader.open()
    await writer.open()
    feed = ChangeFeed(reader, poll_interval=0.05)  # no local writes to listen to
    await feed.start()
    try:
        async with aclosing(feed.follow(await feed.position())) as changes:
            record = TaskRecord.new("held", {"key": "remote"})
            await writer.create(record, owner=None, lease=30)
            change = await next_change(changes)
            assert change.record.id == record.id
            assert change.seq == await writer.last_seq()
    finally:
        await feed.close()
        await reader.close()
        await writer.close()


async def test_follow_of_one_task_skips_the_others(runner: Runner) -> None:
    await runner.submit("held", {"key": "x"}, enqueue=False)
    wanted = await runner.submit("held", {"key": "y"}, enqueue=False)
    for key in ("z1", "z2", "z3"):
        await runner.submit("held", {"key": key}, enqueue=False)
    feed = ChangeFeed(runner.store, runner.subscribe, batch=2)  # pages through the others
    await feed.start()
    try:
        async with aclosing(feed.follow(0, wanted.id)) as changes:
            assert (await next_change(changes)).record.id == wanted.id
            later = await runner.cancel(wanted.id)
            change = await next_change(changes)
            assert change.record == later
    finally:
        await feed.close()


async def test_follow_yields_none_when_idle(runner: Runner) -> None:
    feed = ChangeFeed(runner.store, runner.subscribe, idle_interval=0.05)
    await feed.start()
    try:
        async with aclosing(feed.follow(await feed.position())) as changes:
            async with asyncio.timeout(5):
                assert await anext(changes) is None
    finally:
        await feed.close()


async def test_close_ends_followers_and_forgets_them(runner: Runner) -> None:
    feed = ChangeFeed(runner.store, runner.subscribe)
    await feed.start()
    changes = feed.follow(await feed.position())
    pending = asyncio.ensure_future(anext(changes))
    while feed.followers == 0:  # the follower registers on its first step
        await asyncio.sleep(0)
    await feed.close()
    with pytest.raises(StopAsyncIteration):
        async with asyncio.timeout(5):
            await pending
    assert feed.followers == 0
    assert feed.closed


async def test_closing_the_iterator_unregisters_the_follower(runner: Runner) -> None:
    feed = ChangeFeed(runner.store, runner.subscribe)
    await feed.start()
    try:
        await runner.submit("held", {"key": "q"}, enqueue=False)
        async with aclosing(feed.follow(0)) as changes:
            await next_change(changes)
            assert feed.followers == 1
        assert feed.followers == 0
    finally:
        await feed.close()


async def test_position_and_last_change(runner: Runner) -> None:
    feed = ChangeFeed(runner.store, runner.subscribe, batch=2)
    await feed.start()
    try:
        record = await runner.submit("held", {"key": "p"}, enqueue=False)
        for key in ("o1", "o2", "o3"):
            await runner.submit("held", {"key": key}, enqueue=False)
        latest = await runner.store.last_seq()
        assert await feed.position() == latest
        assert await feed.position(2) == 2
        assert await feed.position(latest + 100) == latest  # a stale id from another store
        found = await feed.last_change(record.id, 0)
        assert found is not None
        assert found.record.id == record.id
        assert await feed.last_change(record.id, found.seq) is None
        cancelled = await runner.cancel(record.id)
        again = await feed.last_change(record.id, found.seq)
        assert again is not None
        assert again.record == cancelled
    finally:
        await feed.close()


@pytest.mark.parametrize(
    "options", [{"poll_interval": 0}, {"idle_interval": -1}, {"batch": 0}], ids=str
)
def test_bad_intervals_are_refused(options: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="above 0"):
        ChangeFeed(MemoryStore(), **options)  # type: ignore[arg-type]
