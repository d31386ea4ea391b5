"""Optional store capabilities: the engine works the same on every store, with or without
them, and finds them by their members alone."""

from __future__ import annotations

from collections.abc import Callable

from tasks import State, Store, TaskRecord
from tasks.engine.store_health import StoreHealth
from tasks.engine.writer import RecordWriter
from tasks.store import ChangeNotifier, ProcessLocal, QueuesWrites

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
