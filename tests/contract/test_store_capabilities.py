"""Optional store capabilities: the engine works the same on every store, with or without
them, and finds them by their members alone."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from tasks import State, Store, TaskRecord
from tasks.engine.store_health import StoreHealth
from tasks.engine.writer import RecordWriter
from tasks.store import ChangeNotifier, ProcessLocal, QueuesWrites, store_from_url

OWNER = "host:1:aaaa"


async def test_the_writer_lands_writes_in_call_order_on_every_store(store: Store) -> None:
    """Queued (a store that :class:`QueuesWrites`) or awaited one by one (any other)."""
    writer = RecordWriter(store, OWNER, 30, StoreHealth())
    heard: list[TaskRecord] = []
    writer.subscribe(heard.append)
    record = TaskRecord.new("noop", {}, owner=OWNER)
    assert await writer.create(record) is None
    running = record.started()
    done = running.finished(State.SUCCEEDED, result=7).replace(owner=OWNER)
    assert await writer.write_soon(running)
    assert await writer.write_soon(done)
    await writer.flushed()
    await writer.close()
    assert heard == [running, done]  # each heard once committed, in the order written
    assert await store.get(record.id) == done
    assert writer.pending == 0


class Members:
    """Nothing but the members of each capability: no base class, nothing registered."""

    process_local = True

    def create_soon(self, record: TaskRecord, *, owner: str | None, lease: float) -> None: ...

    def update_soon(self, record: TaskRecord, *, owner: str) -> None: ...

    def watch_changes(self, callback: Callable[[], None]) -> Callable[[], None]:
        return callback


def test_a_capability_is_found_by_its_members() -> None:
    assert isinstance(Members(), QueuesWrites)
    assert isinstance(Members(), ChangeNotifier)
    assert isinstance(Members(), ProcessLocal)
    assert not isinstance(object(), QueuesWrites | ChangeNotifier | ProcessLocal)


async def test_a_queued_update_not_yet_sent_gives_way_to_the_next_one_of_its_task(
    database_url: str,
) -> None:
    """On the durable stores, which queue writes: a task that starts and ends before its
    start was sent costs one write; a terminal update is never replaced."""
    store = store_from_url(database_url)
    await store.open()
    try:
        assert isinstance(store, QueuesWrites)
        record, other = (TaskRecord.new("noop", {}, owner=OWNER) for _ in range(2))
        for new in (record, other):
            await store.create(new, owner=OWNER, lease=30)
        last = await store.last_seq()
        running = record.started()
        done = running.finished(State.SUCCEEDED, result=1).replace(owner=OWNER)
        started, ended = (store.update_soon(r, owner=OWNER) for r in (running, done))
        assert (await started, await ended) == (True, True)
        after = await store.latest_change(record.id)
        assert after is not None
        assert after.seq == last + 1  # one write for both
        assert await store.get(record.id) == done

        done_first = other.started().finished(State.SUCCEEDED, result=2).replace(owner=OWNER)
        ended, late = (store.update_soon(r, owner=OWNER) for r in (done_first, other.started()))
        assert (await ended, await late) == (True, False)  # the late one is refused on its own
        assert await store.get(other.id) == done_first
    finally:
        await store.close()


async def test_queued_inserts_and_updates_of_several_tasks_land_in_call_order(
    database_url: str,
) -> None:
    """Writes queued together (which a store may send as a few statements) keep the order
    of the calls: an update queued after a task's insert finds the task stored."""
    store = store_from_url(database_url)
    await store.open()
    try:
        assert isinstance(store, QueuesWrites)
        old = TaskRecord.new("noop", {}, owner=OWNER)
        await store.create(old, owner=OWNER, lease=30)
        first, second = (TaskRecord.new("noop", {}, owner=OWNER) for _ in range(2))
        calls = [
            store.create_soon(first, owner=OWNER, lease=30),
            store.update_soon(old.started(), owner=OWNER),
            store.create_soon(second, owner=OWNER, lease=30),
            store.update_soon(first.started(), owner=OWNER),
            store.update_soon(second.started(), owner=OWNER),
            store.create_soon(first, owner=OWNER, lease=30),  # its id is taken by now
        ]
        outcomes = await asyncio.gather(*calls, return_exceptions=True)
        assert outcomes[:5] == [None, True, None, True, True]
        assert isinstance(outcomes[5], ValueError)
        for record in (old, first, second):
            stored = await store.get(record.id)
            assert stored is not None
            assert stored.state is State.RUNNING
    finally:
        await store.close()
