"""SQLite writes on the loop's thread: batched per iteration, never blocked by another's lock."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tasks import SQLiteStore, State, TaskRecord
from tasks.store.sqlite import loop_writer

OWNER = "host:1:a"
WAIT = 30.0


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    store = SQLiteStore(tmp_path / "tasks.sqlite3")
    await store.open()
    yield store
    await store.close()


async def test_updates_of_one_task_in_one_iteration_make_one_write(store: SQLiteStore) -> None:
    record = TaskRecord.new("noop", {}, owner=OWNER)
    await store.create(record, owner=OWNER, lease=30)
    before = await store.last_seq()
    started = store.update_soon(record.started(), owner=OWNER)
    ended = store.update_soon(record.started().finished(State.SUCCEEDED), owner=OWNER)
    assert started is ended
    assert await ended
    assert await store.last_seq() == before + 1
    stored = await store.get(record.id)
    assert stored is not None
    assert (stored.state, stored.owner) == (State.SUCCEEDED, OWNER)


async def test_an_update_after_a_terminal_one_does_not_replace_it(store: SQLiteStore) -> None:
    record = TaskRecord.new("noop", {}, owner=OWNER)
    await store.create(record, owner=OWNER, lease=30)
    running = record.started()
    ended = store.update_soon(running.finished(State.SUCCEEDED), owner=OWNER)
    late = store.update_soon(running, owner=OWNER)  # as the store refuses it once ended
    assert await ended
    assert not await late
    stored = await store.get(record.id)
    assert stored is not None
    assert stored.state is State.SUCCEEDED


async def test_a_lock_held_elsewhere_moves_writes_off_the_loop_in_order(
    store: SQLiteStore,
) -> None:
    other = sqlite3.connect(store.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # as another process's transaction would
    record = TaskRecord.new("noop", {}, owner=OWNER)
    try:
        created = asyncio.ensure_future(store.create(record, owner=OWNER, lease=30))
        await asyncio.sleep(0)  # the batch is flushed, meets the lock, goes to the thread
        updated = store.update_soon(record.started(), owner=OWNER)
        for _ in range(20):
            await asyncio.sleep(0)  # the loop runs on while the thread waits for the lock
        assert not created.done()
        assert not updated.done()
    finally:
        other.execute("COMMIT")
        other.close()
    async with asyncio.timeout(WAIT):
        await created
        assert await updated
    stored = await store.get(record.id)
    assert stored is not None
    assert stored.state is State.RUNNING
    # once the thread has committed, writes are back on the loop
    assert await store.update(record.started().finished(State.SUCCEEDED), owner=OWNER)


async def test_checkpoints_are_requested_from_their_own_thread(
    store: SQLiteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    requested = asyncio.Event()
    loop = asyncio.get_running_loop()
    monkeypatch.setattr(store._checkpointer, "request", lambda: loop.call_soon(requested.set))
    for _ in range(loop_writer.CHECKPOINT_EVERY):
        await store.create(TaskRecord.new("noop", {}), owner=None, lease=30)
    async with asyncio.timeout(WAIT):
        await requested.wait()
