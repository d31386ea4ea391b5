"""Limited starts (``Store.start_limited``, see ``tasks/limits.py``) on every store: a start is
written only if it keeps the concurrency limit of its group (running tasks held by a live
owner) and the rate limit of its name (a sliding window, by the store's clock); refused, the
task stays queued, held. On the durable stores, admissions through several store objects at
once (as several processes make them) never let more in than the limit allows.

Time passes (a short ``asyncio.sleep``) only in the tests whose subject it is: leases that
run out and rate windows that slide.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from tasks import State, Store, TaskRecord, store_from_url
from tasks.limits import Admission, StartLimit

OWNER, OTHER = "host:1:aaaa", "host:2:bbbb"
#: a refusal by the concurrency limit: still held, wait for a running task to end
CROWDED = Admission(started=False, held=True, retry_in=None)
NOT_HELD = Admission(started=False, held=False)
#: seconds added to a wait for the store's clock to pass a moment it named
MARGIN = 0.02


async def queued(store: Store, name: str = "send", *, owner: str | None = OWNER) -> TaskRecord:
    record = TaskRecord.new(name, {"n": 1})
    await store.create(record, owner=owner, lease=30)
    return record.replace(owner=owner)


async def start(
    store: Store, record: TaskRecord, limit: StartLimit, *, owner: str = OWNER, lease: float = 30
) -> Admission:
    return await store.start_limited(record.started(), owner=owner, lease=lease, limit=limit)


async def admitted(
    store: Store, record: TaskRecord, limit: StartLimit, *, owner: str = OWNER
) -> TaskRecord:
    """Start ``record``'s task, which ``limit`` must admit; the start as written."""
    admission = await start(store, record, limit, owner=owner)
    assert (admission.started, admission.held, admission.retry_in) == (True, True, None)
    assert admission.record is not None
    return admission.record


async def state_of(store: Store, record: TaskRecord) -> State:
    stored = await store.get(record.id)
    assert stored is not None
    return stored.state


async def test_an_admitted_start_is_written_as_an_update_is(store: Store) -> None:
    """As passed, but for its ``started_at``: the moment of the admission, by the store's
    clock (which the rate window and leases are kept in too)."""
    record = await queued(store)
    before = await store.last_seq()
    running = record.started()
    limit = StartLimit(concurrency=2, rate=5, period=60)
    admission = await store.start_limited(running, owner=OWNER, lease=30, limit=limit)
    written = admission.record
    assert written is not None
    assert admission == Admission(started=True, held=True, retry_in=None, record=written)
    assert written.started_at is not None
    assert running.started_at is not None
    assert abs(written.started_at - running.started_at) < timedelta(seconds=30)
    assert written == running.replace(started_at=written.started_at)
    assert await store.get(record.id) == written
    change = await store.latest_change(record.id)
    assert change is not None
    assert change.seq > before
    assert change.record == written
    assert [each.record.id for each in await store.changes(before)] == [record.id]


async def test_a_limit_without_concurrency_nor_rate_admits_every_start(store: Store) -> None:
    records = [await queued(store) for _ in range(3)]
    for record in records:
        assert (await start(store, record, StartLimit())).started
    assert {await state_of(store, record) for record in records} == {State.RUNNING}


async def test_the_concurrency_limit_refuses_a_start_past_it_in_its_group_only(
    store: Store,
) -> None:
    limit = StartLimit(concurrency=2, key='"a"')
    first, second, third = [await queued(store) for _ in range(3)]
    assert (await start(store, first, limit)).started
    assert (await start(store, second, limit)).started
    assert await start(store, third, limit) == CROWDED
    assert await state_of(store, third) is State.QUEUED  # as it was, still held
    stored = await store.get(third.id)
    assert stored is not None
    assert stored.owner == OWNER
    # another key of the same name, and the same key of another name, are groups of their own
    assert (await start(store, await queued(store), StartLimit(concurrency=2, key='"b"'))).started
    assert (await start(store, await queued(store, "other"), limit)).started
    assert await start(store, third, limit) == CROWDED


async def test_a_refused_start_changes_nothing(store: Store) -> None:
    limit = StartLimit(concurrency=1, rate=1, period=60)
    assert (await start(store, await queued(store), limit)).started
    record = await queued(store)
    before = await store.last_seq()
    assert await start(store, record, limit) == CROWDED
    refused = await start(store, record, StartLimit(rate=1, period=60))
    assert refused.retry_in is not None
    assert await store.get(record.id) == record
    assert await store.changes(before) == []


async def test_running_tasks_of_every_owner_count(store: Store) -> None:
    limit = StartLimit(concurrency=1)
    theirs = await queued(store, owner=OTHER)
    assert (await start(store, theirs, limit, owner=OTHER)).started
    assert await start(store, await queued(store), limit) == CROWDED


async def test_a_running_task_whose_owner_lease_ran_out_no_longer_counts(store: Store) -> None:
    limit = StartLimit(concurrency=1)
    theirs = await queued(store, owner=OTHER)
    assert (await start(store, theirs, limit, owner=OTHER, lease=30)).started
    mine = await queued(store)
    assert await start(store, mine, limit) == CROWDED
    await store.renew(OTHER, -1.0)  # its lease has run out: the other owner is gone
    assert (await start(store, mine, limit)).started


async def test_an_ended_task_frees_its_place(store: Store) -> None:
    limit = StartLimit(concurrency=1, key="7")
    first, second = await queued(store), await queued(store)
    running = await admitted(store, first, limit)
    assert await start(store, second, limit) == CROWDED
    assert await store.update(running.finished(State.SUCCEEDED, result=1), owner=OWNER)
    assert (await start(store, second, limit)).started


async def test_a_task_back_in_the_queue_for_a_retry_frees_its_place(store: Store) -> None:
    limit = StartLimit(concurrency=1)
    first, second = await queued(store), await queued(store)
    running = await admitted(store, first, limit)
    assert await store.update(running.replace(state=State.QUEUED), owner=OWNER)
    assert (await start(store, second, limit)).started


async def test_the_rate_limit_refuses_a_start_until_the_window_frees_one(store: Store) -> None:
    limit = StartLimit(rate=2, period=2.0)  # long enough for three starts on a busy machine
    first, second, third = [await queued(store) for _ in range(3)]
    assert (await start(store, first, limit)).started
    assert (await start(store, second, limit)).started
    refused = await start(store, third, limit)
    assert (refused.started, refused.held) == (False, True)
    assert refused.retry_in is not None
    assert 0 < refused.retry_in <= limit.period
    assert await state_of(store, third) is State.QUEUED
    await asyncio.sleep(refused.retry_in + MARGIN)
    assert (await start(store, third, limit)).started


async def test_the_rate_limit_counts_every_start_of_the_name_whatever_its_key(
    store: Store,
) -> None:
    assert (await start(store, await queued(store), StartLimit(rate=1, period=60, key="1"))).started
    refused = await start(store, await queued(store), StartLimit(rate=1, period=60, key="2"))
    assert refused.retry_in is not None
    assert (await start(store, await queued(store, "other"), StartLimit(rate=1, period=60))).started


async def test_the_rate_window_slides_with_each_start(store: Store) -> None:
    """Starts spread over the window all count: after the oldest leaves it, one more start is
    admitted, not a new window's whole count (no burst of twice the rate at an edge)."""
    limit = StartLimit(rate=2, period=3.0)  # long enough for four starts on a busy machine
    first, second, third, fourth = [await queued(store) for _ in range(4)]
    assert (await start(store, first, limit)).started
    await asyncio.sleep(1.0)
    assert (await start(store, second, limit)).started
    refused = await start(store, third, limit)
    assert refused.retry_in is not None
    assert 0 < refused.retry_in <= limit.period - 1.0  # when the first leaves the window
    await asyncio.sleep(refused.retry_in + MARGIN)
    assert (await start(store, third, limit)).started
    again = await start(store, fourth, limit)  # the second still counts
    assert again.retry_in is not None
    assert 0 < again.retry_in <= limit.period


async def test_a_refused_start_counts_nothing_against_the_rate(store: Store) -> None:
    limit = StartLimit(concurrency=1, rate=2, period=60)
    first, second, third = [await queued(store) for _ in range(3)]
    running = await admitted(store, first, limit)
    assert await start(store, second, limit) == CROWDED
    assert await start(store, second, limit) == CROWDED
    assert await store.update(running.finished(State.SUCCEEDED), owner=OWNER)
    running = await admitted(store, second, limit)
    assert await store.update(running.finished(State.SUCCEEDED), owner=OWNER)
    refused = await start(store, third, limit)  # two starts in the window: the rate's count
    assert (refused.started, refused.held) == (False, True)
    assert refused.retry_in is not None


async def test_a_task_the_owner_does_not_hold_is_not_started(store: Store) -> None:
    limit = StartLimit(concurrency=5)
    theirs = await queued(store, owner=OTHER)
    nobodys = await queued(store, owner=None)
    assert await start(store, theirs, limit) == NOT_HELD
    assert await start(store, nobodys, limit) == NOT_HELD
    assert await start(store, TaskRecord.new("send", {}), limit) == NOT_HELD  # no such task
    assert {await state_of(store, each) for each in (theirs, nobodys)} == {State.QUEUED}


async def test_the_same_start_again_is_admitted_again_and_counted_once(store: Store) -> None:
    """The answer of a committed start was lost: writing it again admits it, whatever the
    limits say now, without counting it twice."""
    limit = StartLimit(concurrency=1, rate=2, period=60)
    record = await queued(store)
    running = record.started()
    first = await store.start_limited(running, owner=OWNER, lease=30, limit=limit)
    assert first.started
    assert first.record is not None
    again = await store.start_limited(running, owner=OWNER, lease=30, limit=limit)
    assert again == first  # the start as written the first time
    assert await store.get(record.id) == first.record
    assert await store.update(first.record.finished(State.SUCCEEDED), owner=OWNER)
    assert (await start(store, await queued(store), limit)).started  # one start was counted


async def test_another_start_of_a_running_task_is_not_admitted(store: Store) -> None:
    record = await queued(store)
    running = await admitted(store, record, StartLimit())
    assert await start(store, running, StartLimit()) == NOT_HELD  # its next attempt
    assert await store.get(record.id) == running


async def test_an_ended_or_cancelled_task_is_not_started(store: Store) -> None:
    limit = StartLimit(concurrency=5)
    cancelled, done = await queued(store), await queued(store)
    assert await store.update(cancelled.finished(State.CANCELLED), owner=OWNER)
    running = done.started()
    assert (await store.start_limited(running, owner=OWNER, lease=30, limit=limit)).started
    assert await store.update(running.finished(State.SUCCEEDED), owner=OWNER)
    assert await start(store, cancelled, limit) == NOT_HELD
    # its start again (the answer was lost): it has ended since
    assert await store.start_limited(running, owner=OWNER, lease=30, limit=limit) == NOT_HELD
    assert await state_of(store, cancelled) is State.CANCELLED
    assert await state_of(store, done) is State.SUCCEEDED


async def test_a_start_renews_the_owner_lease(store: Store) -> None:
    """A task held with a short lease, started with a long one, stays its owner's."""
    record = TaskRecord.new("send", {"n": 1})
    await store.create(record, owner=OWNER, lease=0.05)
    assert (await start(store, record, StartLimit(concurrency=1), lease=30)).started
    await asyncio.sleep(0.05 + MARGIN)
    claimed = await store.claim(OTHER, 30, limit=10, is_dead=lambda _: False)
    assert claimed == []


async def _admitted_at_once(database_url: str, limit: StartLimit) -> list[State]:
    """Twenty queued tasks, half held by each of two store objects on one database, all
    started at once through both; the stored state of each."""
    stores = [store_from_url(database_url), store_from_url(database_url)]
    for each in stores:
        await each.open()
    try:
        owners = [(stores[n % 2], OWNER if n % 2 else OTHER) for n in range(20)]
        records = [await queued(each, owner=owner) for each, owner in owners]
        admissions = await asyncio.gather(
            *(
                start(each, record, limit, owner=owner)
                for (each, owner), record in zip(owners, records, strict=True)
            )
        )
        assert sum(admission.started for admission in admissions) == 3
        assert all(admission.held for admission in admissions)
        return [await state_of(stores[0], record) for record in records]
    finally:
        for each in stores:
            await each.close()


async def test_concurrent_admissions_through_two_store_objects_keep_the_concurrency(
    database_url: str,
) -> None:
    states = await _admitted_at_once(database_url, StartLimit(concurrency=3, key='"t"'))
    assert sorted(states) == sorted([State.RUNNING] * 3 + [State.QUEUED] * 17)


async def test_concurrent_admissions_through_two_store_objects_keep_the_rate(
    database_url: str,
) -> None:
    states = await _admitted_at_once(database_url, StartLimit(rate=3, period=60))
    assert sorted(states) == sorted([State.RUNNING] * 3 + [State.QUEUED] * 17)
