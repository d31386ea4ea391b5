"""The store contract for broker delivery: taking one task by id, and counting by state.

A worker that receives a task's id from a broker takes it with ``claim_task``: the store
decides, so a message delivered twice (or to two workers) never gives the task to two
live owners. Each test runs against each store implementation.
"""

from __future__ import annotations

import asyncio

from tasks import State, Store, TaskRecord

OWNER, OTHER = "host:1:aaaa", "host:2:bbbb"


def never_dead(owner: str) -> bool:
    return False


def record() -> TaskRecord:
    return TaskRecord.new("count", {"n": 1})


async def test_a_task_nobody_holds_is_taken_once(store: Store) -> None:
    loose = record()
    await store.create(loose, owner=None, lease=30)
    taken = await store.claim_task(loose.id, OWNER, 30, is_dead=never_dead)
    assert taken is not None
    assert (taken.id, taken.owner, taken.state) == (loose.id, OWNER, State.QUEUED)
    assert (await store.get(loose.id)) == taken
    assert await store.claim_task(loose.id, OTHER, 30, is_dead=never_dead) is None
    assert await store.claim_task(loose.id, OWNER, 30, is_dead=never_dead) is None
    assert await store.claim(OTHER, 30, limit=10, is_dead=never_dead) == []


async def test_a_live_holder_keeps_its_task_and_a_dead_one_loses_it(store: Store) -> None:
    held = record()
    await store.create(held, owner=OTHER, lease=30)
    assert await store.claim_task(held.id, OWNER, 30, is_dead=never_dead) is None
    taken = await store.claim_task(held.id, OWNER, 30, is_dead=lambda owner: owner == OTHER)
    assert taken is not None
    assert taken.owner == OWNER
    assert await store.update(held.started(), owner=OTHER) is False


async def test_a_task_whose_lease_ran_out_is_taken_as_found(store: Store) -> None:
    held = record()
    await store.create(held, owner=OTHER, lease=-1)
    await store.update(held.started(), owner=OTHER)
    taken = await store.claim_task(held.id, OWNER, 30, is_dead=never_dead)
    assert taken is not None
    assert (taken.state, taken.attempts, taken.owner) == (State.RUNNING, 1, OWNER)


async def test_ended_and_unknown_tasks_are_not_taken(store: Store) -> None:
    done = record()
    await store.create(done, owner=None, lease=30)
    await store.request_cancel(done.id)  # queued and held by nobody: cancelled at once
    assert await store.claim_task(done.id, OWNER, 30, is_dead=never_dead) is None
    assert await store.claim_task("nope", OWNER, 30, is_dead=never_dead) is None


async def test_a_cancel_request_comes_with_the_taken_record(store: Store) -> None:
    held = record()
    await store.create(held, owner=OTHER, lease=30)
    await store.request_cancel(held.id)
    taken = await store.claim_task(held.id, OWNER, 30, is_dead=lambda owner: True)
    assert taken is not None
    assert taken.cancel_requested


async def test_two_takers_at_once_get_the_task_once(store: Store) -> None:
    loose = [record() for _ in range(5)]
    for each in loose:
        await store.create(each, owner=None, lease=30)
    attempts = [
        store.claim_task(each.id, owner, 30, is_dead=never_dead)
        for each in loose
        for owner in (OWNER, OTHER)
    ]
    taken = [one for one in await asyncio.gather(*attempts) if one is not None]
    assert sorted(one.id for one in taken) == sorted(each.id for each in loose)


async def test_count_by_state(store: Store) -> None:
    assert await store.count(State.QUEUED) == 0
    first, second, third = record(), record(), record()
    for each in (first, second, third):
        await store.create(each, owner=OWNER, lease=30)
    await store.update(first.started(), owner=OWNER)
    assert await store.count(State.QUEUED) == 2
    assert await store.count(State.RUNNING) == 1
    assert await store.count(State.SUCCEEDED) == 0


async def test_a_claim_takes_the_highest_priority_first_then_the_oldest(store: Store) -> None:
    low, high, later_low, higher = (
        TaskRecord.new("noop", {}).replace(priority=priority) for priority in (0, 5, 0, 9)
    )
    for record in (low, high, later_low, higher):
        await store.create(record, owner=None, lease=30)

    def taken(records: list[TaskRecord]) -> list[str]:
        return [record.id for record in records]

    first = await store.claim("a:1:x", 30, limit=2, is_dead=lambda _: False)
    assert sorted(taken(first)) == sorted([higher.id, high.id])
    assert {record.priority for record in first} == {9, 5}
    rest = await store.claim("a:1:x", 30, limit=1, is_dead=lambda _: False)
    assert taken(rest) == [low.id]  # equal priorities: the oldest
