"""The store contract for workflows: each record's parent, a cancel that reaches a task's
live descendants, and retention that deletes a workflow as one."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from tasks import SQLiteStore, State, Store, TaskRecord
from tasks.records import ErrorInfo, Step, utcnow
from tasks.store.postgres import PostgresStore

OWNER, OTHER = "host:1:aaaa", "host:2:bbbb"


async def queued(
    store: Store, *, parent: TaskRecord | None = None, owner: str | None = None
) -> TaskRecord:
    record = TaskRecord.new("count", {"n": 1}).replace(parent=parent.id if parent else None)
    await store.create(record, owner=owner, lease=30)
    return record.replace(owner=owner)


async def running(
    store: Store, *, parent: TaskRecord | None = None, owner: str = OWNER
) -> TaskRecord:
    record = (await queued(store, parent=parent, owner=owner)).started()
    assert await store.update(record, owner=owner)
    return record


async def scheduled(store: Store, *, parent: TaskRecord) -> TaskRecord:
    record = TaskRecord.new("count", {"n": 1}).replace(
        state=State.SCHEDULED, run_at=utcnow() + timedelta(hours=1), parent=parent.id
    )
    await store.create(record, owner=None, lease=30)
    return record


async def finished(
    store: Store, state: State = State.SUCCEEDED, *, parent: TaskRecord | str | None = None
) -> TaskRecord:
    """A record that has reached ``state``, its parent ``parent`` (a record, or only an id)."""
    parent_id = parent.id if isinstance(parent, TaskRecord) else parent
    record = TaskRecord.new("count", {"n": 1}).replace(parent=parent_id)
    await store.create(record, owner=OWNER, lease=30)
    done = record.finished(state)
    assert await store.update(done, owner=OWNER)
    return done


async def finish(store: Store, record: TaskRecord, state: State = State.SUCCEEDED) -> TaskRecord:
    """End a held task; its record as stored (naming the owner that ended it)."""
    done = record.finished(state)
    assert record.owner is not None
    assert await store.update(done, owner=record.owner)
    return done.replace(owner=record.owner)


async def ids(store: Store, *records: TaskRecord) -> list[str | None]:
    """The ids of those of ``records`` still stored (None for each one gone)."""
    return [found.id if (found := await store.get(record.id)) else None for record in records]


#: how far ahead of now ``prune`` is told to look, so that every finished record is old
LATER = timedelta(days=1)


# -- the parent -------------------------------------------------------------------------------


async def test_parent_children_and_steps_round_trip(store: Store) -> None:
    parent = await running(store)
    child = await queued(store, parent=parent)
    assert await store.get(child.id) == child
    now = utcnow()
    steps = (
        Step("fetch", State.SUCCEEDED, now, now, result={"rows": 3}, digest="d1"),
        Step("load", State.FAILED, now, now, error=ErrorInfo("ValueError", "bad")),
    )
    progressed = parent.replace(children=(child.id,), steps=steps)
    assert await store.update(progressed, owner=OWNER)
    assert await store.get(parent.id) == progressed
    claimed = await store.claim(OTHER, 30, limit=10, is_dead=lambda owner: owner == OWNER)
    assert {record.id: record.parent for record in claimed} == {
        parent.id: None,
        child.id: parent.id,
    }


# -- cancelling --------------------------------------------------------------------------------


async def test_cancelling_a_running_parent_reaches_every_live_descendant(store: Store) -> None:
    parent = await running(store, owner=OWNER)
    child = await running(store, parent=parent, owner=OTHER)
    grandchild = await queued(store, parent=child)  # held by nobody
    waiting = await scheduled(store, parent=parent)
    done = await finished(store, parent=parent)
    under_done = await queued(store, parent=done, owner=OTHER)  # held: flagged, not ended
    stranger = await running(store, owner=OTHER)
    done_seq = await store.latest_change(done.id)
    before = await store.last_seq()

    cancelled = await store.request_cancel(parent.id)

    assert cancelled == parent.replace(cancel_requested=True)
    assert await store.get(child.id) == child.replace(cancel_requested=True)
    assert await store.get(under_done.id) == under_done.replace(cancel_requested=True)
    for ended in (grandchild, waiting):
        stored = await store.get(ended.id)
        assert stored is not None
        assert stored.state is State.CANCELLED
        assert stored.finished_at is not None
        assert stored.owner is None
    assert await store.get(done.id) == done.replace(owner=OWNER)
    assert await store.latest_change(done.id) == done_seq
    assert await store.get(stranger.id) == stranger
    changes = await store.changes(before)
    assert sorted(change.record.id for change in changes) == sorted(
        record.id for record in (parent, child, grandchild, waiting, under_done)
    )
    assert len({change.seq for change in changes}) == 5  # each write its own number
    assert await store.last_seq() == before + 5
    assert sorted(await store.renew(OTHER, 30)) == sorted([child.id, under_done.id])
    assert await store.renew(OWNER, 30) == [parent.id]


async def test_cancelling_a_queued_parent_nobody_holds_ends_its_children_too(store: Store) -> None:
    parent = await queued(store)
    child = await queued(store, parent=parent)
    cancelled = await store.request_cancel(parent.id)
    assert cancelled is not None
    assert cancelled.state is State.CANCELLED
    stored = await store.get(child.id)
    assert stored is not None
    assert stored.state is State.CANCELLED


async def test_cancelling_a_finished_parent_changes_no_child(store: Store) -> None:
    parent = await running(store)
    child = await running(store, parent=parent, owner=OTHER)
    grandchild = await queued(store, parent=child)
    parent = await finish(store, parent)
    before = await store.last_seq()

    assert await store.request_cancel(parent.id) == parent
    assert await store.last_seq() == before
    assert await store.get(child.id) == child
    assert await store.get(grandchild.id) == grandchild
    assert await store.renew(OTHER, 30) == []


async def test_cancelling_a_child_leaves_its_parent_and_siblings(store: Store) -> None:
    parent = await running(store)
    child = await running(store, parent=parent, owner=OTHER)
    sibling = await queued(store, parent=parent)
    await store.request_cancel(child.id)
    assert await store.get(parent.id) == parent
    assert await store.get(sibling.id) == sibling
    assert await store.renew(OTHER, 30) == [child.id]


# -- pruning -------------------------------------------------------------------------------------


async def test_prune_deletes_a_finished_parent_with_all_its_descendants(store: Store) -> None:
    parent = await running(store)
    child = await running(store, parent=parent)
    grandchild = await finished(store, State.CANCELLED, parent=child)
    child = await finish(store, child, State.FAILED)  # not in the states pruned: goes anyway
    sibling = await finished(store, parent=parent)
    parent = await finish(store, parent)
    kept = await queued(store)  # the latest write

    deleted = await store.prune(utcnow() + LATER, states=frozenset({State.SUCCEEDED}))

    assert deleted[0].id == parent.id
    assert sorted(record.id for record in deleted) == sorted(
        record.id for record in (parent, child, grandchild, sibling)
    )
    assert await ids(store, parent, child, grandchild, sibling, kept) == [None] * 4 + [kept.id]
    assert await store.prune(utcnow() + LATER) == []


async def test_prune_never_deletes_a_child_alone_while_its_parent_exists(store: Store) -> None:
    live_parent = await running(store)
    done_child = await finished(store, parent=live_parent)
    failed_parent = await finished(store, State.FAILED)
    child_of_failed = await finished(store, parent=failed_parent)
    await queued(store)  # the latest write

    assert await store.prune(utcnow() + LATER, states=frozenset({State.SUCCEEDED})) == []
    assert await ids(store, done_child, child_of_failed) == [done_child.id, child_of_failed.id]


async def test_prune_skips_a_parent_with_a_live_child_and_goes_on(store: Store) -> None:
    parent = await running(store)
    child = await running(store, parent=parent, owner=OTHER)
    parent = await finish(store, parent)  # the child runs on
    alone = await finished(store)  # finished after the parent: found after it
    await queued(store)  # the latest write

    assert [record.id for record in await store.prune(utcnow() + LATER)] == [alone.id]
    assert await ids(store, parent, child) == [parent.id, child.id]

    await finish(store, child)
    await queued(store)  # the latest write
    deleted = await store.prune(utcnow() + LATER)
    assert [record.id for record in deleted] == [parent.id, child.id]


async def test_prune_takes_an_orphan_on_its_own(store: Store) -> None:
    orphan = await finished(store, parent="a-task-no-longer-stored")
    await queued(store)  # the latest write
    assert [record.id for record in await store.prune(utcnow() + LATER)] == [orphan.id]


async def test_prune_keeps_a_workflow_holding_the_latest_write(store: Store) -> None:
    parent = await running(store)
    child = await running(store, parent=parent)
    parent = await finish(store, parent)
    child = await finish(store, child)  # the latest write: its seq is the counter's
    assert await store.prune(utcnow() + LATER) == []
    await queued(store)
    assert [record.id for record in await store.prune(utcnow() + LATER)] == [parent.id, child.id]


async def test_prune_limit_counts_workflows_not_their_descendants(store: Store) -> None:
    families = []
    for _ in range(3):
        parent = await running(store)
        children = [await finished(store, parent=parent) for _ in range(2)]
        families.append([await finish(store, parent), *children])
    await queued(store)  # the latest write

    first = await store.prune(utcnow() + LATER, limit=2)
    assert [record.id for record in first] == [
        record.id for family in families[:2] for record in family
    ]
    rest = await store.prune(utcnow() + LATER, limit=2)
    assert [record.id for record in rest] == [record.id for record in families[2]]


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_processes_pruning_workflows_together_delete_each_record_once(
    request: pytest.FixtureRequest, tmp_path: Path, kind: str
) -> None:
    stores: list[Store]
    if kind == "sqlite":
        stores = [SQLiteStore(tmp_path / "shared.db") for _ in range(3)]
    else:
        url: str = request.getfixturevalue("postgres_url")
        stores = [PostgresStore(url) for _ in range(3)]
    for store in stores:
        await store.open()
    try:

        async def workflow(store: Store) -> list[str]:
            parent = await running(store)
            child = await running(store, parent=parent)
            grandchild = await finished(store, parent=child)
            return [
                grandchild.id,
                (await finish(store, child)).id,
                (await finish(store, parent)).id,
            ]

        made = await asyncio.gather(*(workflow(stores[n % 3]) for n in range(150)))
        expected = {task_id for ids in made for task_id in ids}
        await queued(stores[0])  # the latest write
        cutoff = utcnow() + LATER
        rounds = await asyncio.gather(*(store.prune(cutoff, limit=20) for store in stores * 4))
        deleted = [record.id for batch in rounds for record in batch]
        for _ in range(20):  # rounds that read the same workflows delete fewer; go on to the end
            more = await asyncio.gather(*(store.prune(cutoff) for store in stores))
            if not any(more):
                break
            deleted += [record.id for batch in more for record in batch]
        assert sorted(deleted) == sorted(expected)  # every one deleted, none by two processes
    finally:
        for store in stores:
            await store.close()
