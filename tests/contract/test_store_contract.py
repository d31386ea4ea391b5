"""One contract, every store: each test runs against each implementation."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tasks import MemoryStore, SQLiteStore, State, Store, TaskRecord, store_from_url

StoreFactory = Callable[[], Store]

OWNER, OTHER = "host:1:aaaa", "host:2:bbbb"


def never_dead(owner: str) -> bool:
    return False


def record(name: str = "count", **changes: object) -> TaskRecord:
    return TaskRecord.new(name, {"n": 1}).replace(**changes)


async def test_create_then_get_round_trips_every_field(store: Store) -> None:
    created = record(max_attempts=3, timeout=2.5)
    await store.create(created, owner=OWNER, lease=30)
    assert await store.get(created.id) == created.replace(owner=OWNER)


async def test_get_unknown_is_none(store: Store) -> None:
    assert await store.get("nope") is None


async def test_create_twice_is_refused(store: Store) -> None:
    created = record()
    await store.create(created, owner=OWNER, lease=30)
    with pytest.raises(ValueError, match="already exists"):
        await store.create(created, owner=OWNER, lease=30)


async def test_update_by_the_holder_replaces_the_record(store: Store) -> None:
    created = record()
    await store.create(created, owner=OWNER, lease=30)
    running = created.started()
    assert await store.update(running, owner=OWNER) is True
    assert await store.get(created.id) == running.replace(owner=OWNER)


async def test_update_by_another_owner_writes_nothing(store: Store) -> None:
    created = record()
    await store.create(created, owner=OWNER, lease=30)
    assert await store.update(created.started(), owner=OTHER) is False
    stored = await store.get(created.id)
    assert stored is not None
    assert stored.state is State.QUEUED


async def test_a_terminal_write_lets_go_of_the_task(store: Store) -> None:
    created = record()
    await store.create(created, owner=OWNER, lease=30)
    assert await store.update(created.finished(State.SUCCEEDED, result=1), owner=OWNER)
    # no later write lands, not even the owner's own, and nobody can claim it
    assert not await store.update(created.started(), owner=OWNER)
    assert await store.claim("other", 30, limit=10, is_dead=lambda _: True) == []
    stored = await store.get(created.id)
    assert stored is not None
    assert (stored.state, stored.result) == (State.SUCCEEDED, 1)
    assert stored.owner == OWNER  # who ended it


async def test_query_is_newest_first_and_filters(store: Store) -> None:
    first, second, third = record("count"), record("sleep"), record("count")
    for each in (first, second, third):
        await store.create(each, owner=OWNER, lease=30)
    await store.update(second.finished(State.FAILED), owner=OWNER)
    assert [r.id for r in await store.query()] == [third.id, second.id, first.id]
    assert [r.id for r in await store.query(name="count")] == [third.id, first.id]
    assert [r.id for r in await store.query(state=State.FAILED)] == [second.id]
    assert [r.id for r in await store.query(limit=1)] == [third.id]


async def test_changes_give_the_latest_write_of_each_record_in_order(store: Store) -> None:
    assert await store.last_seq() == 0
    first, second = record(), record()
    await store.create(first, owner=OWNER, lease=30)
    await store.create(second, owner=OWNER, lease=30)
    mark = await store.last_seq()
    await store.update(first.started(), owner=OWNER)
    changes = await store.changes(mark)
    assert [(c.record.id, c.record.state) for c in changes] == [(first.id, State.RUNNING)]
    assert changes[0].seq == await store.last_seq() > mark
    everything = await store.changes(0)
    assert [c.record.id for c in everything] == [second.id, first.id]
    assert [c.record.id for c in await store.changes(0, limit=1)] == [second.id]


async def test_latest_change_is_one_record_with_the_number_of_its_latest_write(
    store: Store,
) -> None:
    assert await store.latest_change("nope") is None
    first, second = record(), record()
    await store.create(first, owner=OWNER, lease=30)
    await store.create(second, owner=OWNER, lease=30)
    await store.update(first.started(), owner=OWNER)
    for task in (first, second):
        (logged,) = [c for c in await store.changes(0) if c.record.id == task.id]
        assert await store.latest_change(task.id) == logged
    change = await store.latest_change(first.id)
    assert change is not None
    assert change.seq == await store.last_seq()
    assert change.record.state is State.RUNNING


async def test_claim_takes_unowned_tasks_once(store: Store) -> None:
    loose = record()
    await store.create(loose, owner=None, lease=30)
    claimed = await store.claim(OWNER, 30, limit=10, is_dead=never_dead)
    assert [r.id for r in claimed] == [loose.id]
    assert claimed[0].owner == OWNER
    assert await store.claim(OTHER, 30, limit=10, is_dead=never_dead) == []


async def test_claim_leaves_live_holders_alone_and_takes_from_dead_ones(store: Store) -> None:
    held = record()
    await store.create(held, owner=OTHER, lease=30)
    assert await store.claim(OWNER, 30, limit=10, is_dead=never_dead) == []
    claimed = await store.claim(OWNER, 30, limit=10, is_dead=lambda owner: owner == OTHER)
    assert [r.id for r in claimed] == [held.id]
    assert await store.update(held.started(), owner=OTHER) is False


async def test_claim_takes_tasks_whose_lease_ran_out(store: Store) -> None:
    held = record()
    await store.create(held, owner=OTHER, lease=-1)
    claimed = await store.claim(OWNER, 30, limit=10, is_dead=never_dead)
    assert [r.id for r in claimed] == [held.id]


async def test_renewing_keeps_the_lease(store: Store) -> None:
    held = record()
    await store.create(held, owner=OTHER, lease=-1)
    await store.renew(OTHER, 30)
    assert await store.claim(OWNER, 30, limit=10, is_dead=never_dead) == []


async def test_claim_respects_the_limit_and_skips_finished_tasks(store: Store) -> None:
    done, *loose = [record() for _ in range(4)]
    await store.create(done, owner=OWNER, lease=30)
    await store.update(done.finished(State.SUCCEEDED), owner=OWNER)
    for each in loose:
        await store.create(each, owner=None, lease=30)
    claimed = await store.claim(OTHER, 30, limit=2, is_dead=never_dead)
    assert [r.id for r in claimed] == [loose[0].id, loose[1].id]


async def test_claim_returns_running_tasks_as_found(store: Store) -> None:
    interrupted = record()
    await store.create(interrupted, owner=OTHER, lease=30)
    await store.update(interrupted.started(), owner=OTHER)
    (claimed,) = await store.claim(OWNER, 30, limit=5, is_dead=lambda owner: True)
    assert claimed.state is State.RUNNING
    assert claimed.attempts == 1


async def test_release_lets_go_of_all_but_the_kept(store: Store) -> None:
    kept, loose, done = record(), record(), record()
    for each in (kept, loose, done):
        await store.create(each, owner=OWNER, lease=30)
    await store.update(done.finished(State.SUCCEEDED), owner=OWNER)
    assert await store.release(OWNER, keep=frozenset({kept.id})) == 1
    claimed = await store.claim(OTHER, 30, limit=10, is_dead=never_dead)
    assert [r.id for r in claimed] == [loose.id]


async def test_request_cancel_on_an_unowned_queued_task_cancels_it(store: Store) -> None:
    loose = record()
    await store.create(loose, owner=None, lease=30)
    cancelled = await store.request_cancel(loose.id)
    assert cancelled is not None
    assert cancelled.state is State.CANCELLED
    stored = await store.get(loose.id)
    assert stored is not None
    assert stored.state is State.CANCELLED
    assert stored.finished_at


async def test_request_cancel_on_a_held_task_flags_it_for_its_owner(store: Store) -> None:
    held = record()
    await store.create(held, owner=OTHER, lease=30)
    flagged = await store.request_cancel(held.id)
    assert flagged is not None
    assert flagged.state is State.QUEUED
    assert flagged.cancel_requested
    assert await store.renew(OTHER, 30) == [held.id]
    assert await store.renew(OWNER, 30) == []
    # the owner's own writes keep the flag
    await store.update(held.started(), owner=OTHER)
    stored = await store.get(held.id)
    assert stored is not None
    assert stored.cancel_requested


async def test_request_cancel_leaves_finished_and_unknown_tasks(store: Store) -> None:
    done = record()
    await store.create(done, owner=OWNER, lease=30)
    await store.update(done.finished(State.SUCCEEDED), owner=OWNER)
    result = await store.request_cancel(done.id)
    assert result is not None
    assert result.state is State.SUCCEEDED
    assert await store.request_cancel("nope") is None


def test_store_from_url_chooses_the_implementation(tmp_path: Path) -> None:
    assert isinstance(store_from_url(":memory:"), MemoryStore)
    sqlite = store_from_url(f"sqlite:///{tmp_path}/a.db")
    assert isinstance(sqlite, SQLiteStore)
    assert sqlite.path == tmp_path / "a.db"
    assert isinstance(store_from_url(tmp_path / "b.db"), SQLiteStore)
    with pytest.raises(ValueError, match="unsupported task store 'redis'"):
        store_from_url("redis://localhost")


async def test_query_before_a_task_pages_back_through_older_ones(store: Store) -> None:
    made = [record("count") for _ in range(5)]
    for each in made:
        await store.create(each, owner=OWNER, lease=30)
    await store.update(made[1].finished(State.FAILED), owner=OWNER)  # a write keeps its place
    newest_first = [each.id for each in reversed(made)]
    page = [r.id for r in await store.query(limit=2)]
    assert page == newest_first[:2]
    page = [r.id for r in await store.query(limit=2, before=page[-1])]
    assert page == newest_first[2:4]
    assert [r.id for r in await store.query(before=page[-1])] == newest_first[4:]
    assert [r.id for r in await store.query(before=made[2].id, state=State.FAILED)] == [made[1].id]
    assert await store.query(before="nosuch") == []


# -- names: each process takes only the tasks it can run ---------------------------------


async def test_claim_takes_only_the_named_tasks_past_any_number_of_others(store: Store) -> None:
    foreign = [record("theirs") for _ in range(5)]
    ours = [record("count") for _ in range(3)]
    for each in (*foreign, *ours):
        await store.create(each, owner=None, lease=30)
    claimed = await store.claim(OWNER, 30, limit=2, is_dead=never_dead, names={"count"})
    assert [r.id for r in claimed] == [ours[0].id, ours[1].id]
    claimed = await store.claim(OWNER, 30, limit=10, is_dead=never_dead, names=frozenset({"count"}))
    assert [r.id for r in claimed] == [ours[2].id]
    for each in foreign:
        assert await store.get(each.id) == each  # untouched: held by nobody, still queued
    assert await store.claim(OTHER, 30, limit=10, is_dead=never_dead, names=frozenset()) == []
    claimed = await store.claim(OTHER, 30, limit=10, is_dead=never_dead, names={"theirs"})
    assert [r.id for r in claimed] == [each.id for each in foreign]


async def test_claim_leaves_a_dead_owners_tasks_of_other_names(store: Store) -> None:
    theirs, ours = record("theirs"), record("count")
    for each in (theirs, ours):
        await store.create(each, owner=OTHER, lease=30)
    await store.update(theirs.started(), owner=OTHER)
    claimed = await store.claim(OWNER, 30, limit=10, is_dead=lambda o: True, names={"count"})
    assert [r.id for r in claimed] == [ours.id]
    left = await store.get(theirs.id)
    assert left is not None
    assert (left.state, left.owner, left.attempts) == (State.RUNNING, OTHER, 1)


async def test_claim_task_refuses_a_task_of_another_name(store: Store) -> None:
    theirs = record("theirs")
    await store.create(theirs, owner=None, lease=30)
    assert await store.claim_task(theirs.id, OWNER, 30, is_dead=never_dead, names={"count"}) is None
    assert await store.get(theirs.id) == theirs
    taken = await store.claim_task(theirs.id, OWNER, 30, is_dead=never_dead, names={"theirs"})
    assert taken is not None
    assert taken.owner == OWNER


async def test_take_due_takes_only_the_named_tasks_past_any_number_of_others(
    store: Store,
) -> None:
    due = datetime(2030, 5, 6, tzinfo=UTC)
    foreign = [record("theirs", state=State.SCHEDULED, run_at=due) for _ in range(4)]
    ours = record("count", state=State.SCHEDULED, run_at=due + timedelta(seconds=1))
    for each in (*foreign, ours):
        await store.create(each, owner=None, lease=30)
    now = due + timedelta(minutes=1)
    taken = await store.take_due(OWNER, 30, now=now, limit=2, names={"count"})
    assert [(r.id, r.state, r.owner) for r in taken] == [(ours.id, State.QUEUED, OWNER)]
    assert await store.take_due(OWNER, 30, now=now, limit=2, names=frozenset()) == []
    for each in foreign:
        assert await store.get(each.id) == each
    assert await store.count(State.SCHEDULED) == 4


async def test_release_task_hands_one_held_task_back_as_it_is(store: Store) -> None:
    held, kept = record(), record()
    for each in (held, kept):
        await store.create(each, owner=OWNER, lease=30)
    assert await store.release_task(held.id, OTHER) is False
    assert await store.release_task(held.id, OWNER) is True
    assert await store.get(held.id) == held  # queued, attempts 0, held by nobody
    assert await store.release_task(held.id, OWNER) is False
    stored = await store.get(kept.id)
    assert stored is not None
    assert stored.owner == OWNER
    assert await store.renew(OWNER, 30) == []  # the owner itself goes on holding the rest
    claimed = await store.claim(OTHER, 30, limit=10, is_dead=never_dead)
    assert [r.id for r in claimed] == [held.id]


async def test_count_by_name_counts_the_records_in_a_state(store: Store) -> None:
    for name in ("count", "theirs", "theirs"):
        await store.create(record(name), owner=None, lease=30)
    done = record("other")
    await store.create(done, owner=OWNER, lease=30)
    await store.update(done.finished(State.SUCCEEDED), owner=OWNER)
    assert await store.count_by_name(State.QUEUED) == {"count": 1, "theirs": 2}
    assert await store.count_by_name(State.SUCCEEDED) == {"other": 1}
    assert await store.count_by_name(State.RUNNING) == {}
