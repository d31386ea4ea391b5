"""The store contract for pruning: what may be deleted, in what order, and by whom."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from tasks import SQLiteStore, State, Store, TaskRecord
from tasks.records import utcnow
from tasks.store.postgres import PostgresStore

OWNER = "host:1:aaaa"


async def finished(store: Store, state: State, *, ago: float, name: str = "count") -> TaskRecord:
    """A record that reached ``state`` ``ago`` seconds ago (as its finished_at says)."""
    record = TaskRecord.new(name, {"n": 1})
    await store.create(record, owner=OWNER, lease=30)
    done = record.finished(state).replace(finished_at=utcnow() - timedelta(seconds=ago))
    assert await store.update(done, owner=OWNER)
    return done


async def live(store: Store, state: State) -> TaskRecord:
    record = TaskRecord.new("count", {"n": 1})
    await store.create(record, owner=OWNER, lease=30)
    if state is State.RUNNING:
        record = record.started()
        assert await store.update(record, owner=OWNER)
    return record


async def test_old_finished_records_go_and_the_rest_stay(store: Store) -> None:
    old = [await finished(store, state, ago=100) for state in (State.SUCCEEDED, State.FAILED)]
    old.append(await finished(store, State.CANCELLED, ago=90))
    young = await finished(store, State.SUCCEEDED, ago=1)
    running = await live(store, State.RUNNING)
    queued = await live(store, State.QUEUED)

    deleted = await store.prune(utcnow() - timedelta(seconds=10))

    assert sorted(record.id for record in deleted) == sorted(record.id for record in old)
    assert [await store.get(record.id) for record in old] == [None, None, None]
    for kept in (young, running, queued):
        assert await store.get(kept.id) is not None
    assert await store.prune(utcnow() - timedelta(seconds=10)) == []  # nothing twice


async def test_live_records_are_never_deleted(store: Store) -> None:
    running = await live(store, State.RUNNING)
    queued = await live(store, State.QUEUED)
    await finished(store, State.SUCCEEDED, ago=100)  # the latest write is kept in any case
    assert await store.prune(utcnow() + timedelta(days=1)) == []
    assert await store.get(running.id) is not None
    assert await store.get(queued.id) is not None


async def test_states_and_limit_choose_what_goes(store: Store) -> None:
    failed = [await finished(store, State.FAILED, ago=100) for _ in range(3)]
    succeeded = await finished(store, State.SUCCEEDED, ago=100)
    await live(store, State.QUEUED)  # the latest write

    first = await store.prune(utcnow(), states=frozenset({State.FAILED}), limit=2)
    assert [record.id for record in first] == [record.id for record in failed[:2]]  # oldest first
    rest = await store.prune(utcnow(), states=frozenset({State.FAILED}))
    assert [record.id for record in rest] == [failed[2].id]
    assert await store.get(succeeded.id) is not None
    live_only = await store.prune(utcnow(), states=frozenset({State.RUNNING}))
    assert live_only == []


async def test_the_latest_write_survives_so_the_sequence_never_goes_back(store: Store) -> None:
    await finished(store, State.SUCCEEDED, ago=100)
    last = await finished(store, State.SUCCEEDED, ago=100)
    seq = await store.last_seq()
    deleted = await store.prune(utcnow())
    assert len(deleted) == 1
    assert await store.get(last.id) is not None
    assert await store.last_seq() == seq


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
@pytest.mark.timeout(180)
async def test_processes_pruning_one_store_together_delete_each_record_once(
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
        # stored at once, so that their writes share commits: seconds, not minutes, on a
        # busy machine
        made = await asyncio.gather(
            *(finished(stores[0], State.SUCCEEDED, ago=100) for _ in range(1200))
        )
        ids = {record.id for record in made}
        await live(stores[0], State.QUEUED)
        cutoff = utcnow()
        rounds = await asyncio.gather(
            *(store.prune(cutoff, limit=100) for store in stores for _ in range(6))
        )
        deleted = [record.id for batch in rounds for record in batch]
        for _ in range(20):  # rounds that read the same candidates delete fewer; go on to the end
            more = await asyncio.gather(*(store.prune(cutoff, limit=500) for store in stores))
            if not any(more):
                break
            deleted += [record.id for batch in more for record in batch]
        assert sorted(deleted) == sorted(ids)  # every one deleted, none by two processes
    finally:
        for store in stores:
            await store.close()
