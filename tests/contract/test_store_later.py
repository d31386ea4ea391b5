"""The store contract for later work, on every store: delayed tasks, keys, schedule ticks."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from tasks import State, Store, TaskRecord

OWNER, OTHER = "host:1:aaaa", "host:2:bbbb"
NOW = datetime(2030, 5, 6, 7, 8, 9, tzinfo=UTC)


def never_dead(owner: str) -> bool:
    return False


def scheduled(run_at: datetime, name: str = "count") -> TaskRecord:
    return TaskRecord.new(name, {"n": 1}).replace(state=State.SCHEDULED, run_at=run_at)


def keyed(key: str, **kwargs: object) -> TaskRecord:
    return TaskRecord.new("count", dict(kwargs)).replace(idempotency_key=key)


def run_for(tick: datetime, name: str = "nightly") -> TaskRecord:
    return TaskRecord.new(name, {}).replace(schedule=name, tick=tick)


# -- delayed tasks --------------------------------------------------------------------------


async def test_a_scheduled_record_round_trips_and_is_listed_by_its_state(store: Store) -> None:
    later = scheduled(NOW)
    assert await store.create(later, owner=None, lease=30) is None
    assert await store.get(later.id) == later
    assert [r.id for r in await store.query(state=State.SCHEDULED)] == [later.id]
    assert await store.count(State.SCHEDULED) == 1
    assert await store.count(State.QUEUED) == 0


async def test_next_due_is_the_earliest_run_at_of_a_scheduled_task_of_those_names(
    store: Store,
) -> None:
    assert await store.next_due() is None
    late, early = scheduled(NOW + timedelta(seconds=90)), scheduled(NOW, name="other")
    for record in (late, early):
        await store.create(record, owner=None, lease=30)
    assert await store.next_due() == NOW
    assert await store.next_due(["count"]) == NOW + timedelta(seconds=90)
    assert await store.next_due(["missing"]) is None
    await store.take_due(OWNER, 30, now=NOW, limit=10)  # early is queued now
    assert await store.next_due() == NOW + timedelta(seconds=90)


async def test_a_scheduled_task_is_not_claimed_until_it_is_due(store: Store) -> None:
    later = scheduled(NOW)
    await store.create(later, owner=None, lease=30)
    assert await store.claim(OWNER, 30, limit=10, is_dead=lambda owner: True) == []
    early = NOW - timedelta(microseconds=1)
    assert await store.take_due(OWNER, 30, now=early, limit=10) == []
    (taken,) = await store.take_due(OWNER, 30, now=NOW, limit=10)
    assert taken.id == later.id
    assert taken.state is State.QUEUED
    assert taken.owner == OWNER
    assert taken.run_at == NOW
    assert await store.get(later.id) == taken
    assert await store.count(State.SCHEDULED) == 0
    # once taken it is an ordinary queued task, held by its taker
    assert await store.take_due(OTHER, 30, now=NOW, limit=10) == []
    assert await store.claim(OTHER, 30, limit=10, is_dead=never_dead) == []
    assert await store.update(taken.started(), owner=OWNER) is True


async def test_due_tasks_are_taken_earliest_first_up_to_the_limit(store: Store) -> None:
    records = [scheduled(NOW - timedelta(seconds=s)) for s in (1, 3, 2)]
    for each in records:
        await store.create(each, owner=None, lease=30)
    taken = await store.take_due(OWNER, 30, now=NOW, limit=2)
    assert [r.id for r in taken] == [records[1].id, records[2].id]
    assert [r.id for r in await store.take_due(OTHER, 30, now=NOW, limit=2)] == [records[0].id]


async def test_concurrent_takers_never_take_one_due_task_twice(store: Store) -> None:
    for _ in range(30):
        await store.create(scheduled(NOW), owner=None, lease=30)
    rounds = await asyncio.gather(
        *(store.take_due(f"owner-{n}", 30, now=NOW, limit=4) for n in range(12))
    )
    ids = [record.id for taken in rounds for record in taken]
    assert len(ids) == len(set(ids)) == 30


async def test_cancelling_a_scheduled_task_ends_it_at_once(store: Store) -> None:
    later = scheduled(NOW)
    await store.create(later, owner=None, lease=30)
    cancelled = await store.request_cancel(later.id)
    assert cancelled is not None
    assert cancelled.state is State.CANCELLED
    stored = await store.get(later.id)
    assert stored is not None
    assert stored.state is State.CANCELLED
    assert stored.finished_at is not None
    assert await store.take_due(OWNER, 30, now=NOW, limit=10) == []


# -- idempotency keys -----------------------------------------------------------------------


async def test_a_second_record_with_a_key_gets_the_first_one_back(store: Store) -> None:
    first = keyed("order-7", n=1)
    assert await store.create(first, owner=OWNER, lease=30) is None
    again = keyed("order-7", n=2)
    existing = await store.create(again, owner=OWNER, lease=30)
    assert existing == first.replace(owner=OWNER)
    assert await store.get(again.id) is None
    assert await store.create(keyed("order-8"), owner=OWNER, lease=30) is None
    assert len(await store.query()) == 2


async def test_keys_are_one_per_store_whatever_the_task(store: Store) -> None:
    first = keyed("k")
    await store.create(first, owner=None, lease=30)
    other = TaskRecord.new("sleep", {}).replace(idempotency_key="k")
    existing = await store.create(other, owner=None, lease=30)
    assert existing is not None
    assert existing.id == first.id


async def test_concurrent_records_with_one_key_store_exactly_one(store: Store) -> None:
    attempts = [keyed("once", n=n) for n in range(20)]
    outcomes = await asyncio.gather(
        *(store.create(each, owner=OWNER, lease=30) for each in attempts)
    )
    stored = await store.query()
    assert len(stored) == 1
    assert outcomes.count(None) == 1
    assert {existing.id for existing in outcomes if existing is not None} == {stored[0].id}


async def test_a_key_lives_as_long_as_its_record(store: Store) -> None:
    first = keyed("short-lived")
    await store.create(first, owner=OWNER, lease=30)
    await store.update(first.finished(State.SUCCEEDED), owner=OWNER)
    await store.create(TaskRecord.new("count", {}), owner=OWNER, lease=30)  # the latest write
    assert await store.create(keyed("short-lived"), owner=OWNER, lease=30) is not None
    pruned = await store.prune(datetime.now(UTC) + timedelta(seconds=1))
    assert [r.id for r in pruned] == [first.id]
    assert await store.create(keyed("short-lived"), owner=OWNER, lease=30) is None


# -- schedule ticks -------------------------------------------------------------------------


async def test_one_run_per_tick_and_ticks_only_move_forward(store: Store) -> None:
    tick = NOW.replace(microsecond=0)
    first = run_for(tick)
    assert await store.advance_schedule("nightly", tick, first, owner=OWNER, lease=30)
    assert await store.get(first.id) == first.replace(owner=OWNER)
    assert not await store.advance_schedule("nightly", tick, run_for(tick), owner=OWNER, lease=30)
    earlier = tick - timedelta(days=1)
    assert not await store.advance_schedule("nightly", earlier, None, owner=None, lease=30)
    (mark,) = await store.schedule_marks()
    assert (mark.name, mark.tick, mark.task_id) == ("nightly", tick, first.id)
    assert [r.id for r in await store.query()] == [first.id]


async def test_a_skipped_tick_moves_the_schedule_without_a_run(store: Store) -> None:
    tick = NOW.replace(microsecond=0)
    assert await store.advance_schedule("hourly", tick, None, owner=None, lease=30)
    assert not await store.advance_schedule(
        "hourly", tick, run_for(tick, "hourly"), owner=None, lease=30
    )
    assert await store.query() == []
    later = tick + timedelta(hours=1)
    run = run_for(later, "hourly")
    assert await store.advance_schedule("hourly", later, run, owner=None, lease=30)
    (mark,) = await store.schedule_marks()
    assert (mark.tick, mark.task_id) == (later, run.id)
    # a run stored for nobody is claimed like any queued task
    (claimed,) = await store.claim(OWNER, 30, limit=10, is_dead=never_dead)
    assert claimed.id == run.id
    assert claimed.tick == later


async def test_schedules_are_independent(store: Store) -> None:
    tick = NOW.replace(microsecond=0)
    assert await store.advance_schedule("a", tick, run_for(tick, "a"), owner=None, lease=30)
    assert await store.advance_schedule("b", tick, run_for(tick, "b"), owner=None, lease=30)
    assert [mark.name for mark in await store.schedule_marks()] == ["a", "b"]


async def test_concurrent_attempts_at_one_tick_store_exactly_one_run(store: Store) -> None:
    tick = NOW.replace(microsecond=0)
    outcomes = await asyncio.gather(
        *(
            store.advance_schedule("nightly", tick, run_for(tick), owner=f"o-{n}", lease=30)
            for n in range(20)
        )
    )
    assert outcomes.count(True) == 1
    (run,) = await store.query()
    assert run.tick == tick
    assert run.schedule == "nightly"


async def test_a_tick_outlives_the_pruning_of_its_run(store: Store) -> None:
    tick = NOW.replace(microsecond=0) - timedelta(days=400)
    run = run_for(tick)
    await store.advance_schedule("nightly", tick, run, owner=OWNER, lease=30)
    await store.update(run.finished(State.SUCCEEDED), owner=OWNER)
    await store.create(TaskRecord.new("count", {}), owner=OWNER, lease=30)
    assert [r.id for r in await store.prune(datetime.now(UTC) + timedelta(seconds=1))] == [run.id]
    assert not await store.advance_schedule("nightly", tick, run_for(tick), owner=OWNER, lease=30)
    (mark,) = await store.schedule_marks()
    assert mark.tick == tick
