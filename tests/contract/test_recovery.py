"""Nothing lost: claiming orphaned tasks, handing back at drain, cancelling across runners."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from tasks import MemoryStore, Registry, Runner, State, Store, TaskRecord
from tasks.engine.dispatch import ForWorkers
from tasks.engine.recovery import INTERRUPTED
from tests.harness import WAIT

RunnerFactory = Callable[..., Coroutine[Any, Any, Runner]]
DEAD_OWNER = "some-other-host:1:dead"  # another host: only its lease can expire


@pytest.fixture
def registry() -> Registry:
    registry = Registry()

    @registry.task(idempotent=True)
    async def again(n: int = 0) -> int:
        return n

    @registry.task()
    async def once(n: int = 0) -> int:
        return n

    @registry.task()
    async def hold() -> None:
        await asyncio.Event().wait()

    return registry


@pytest.fixture
async def make_runner(registry: Registry, store: Store) -> AsyncIterator[RunnerFactory]:
    runners: list[Runner] = []

    async def build(**options: Any) -> Runner:
        runner = Runner(registry, store, poll_interval=0.02, lease=5.0, **options)
        await runner.start()
        runners.append(runner)
        return runner

    yield build
    for runner in runners:
        await runner.close()


async def leave_behind(store: Store, name: str, state: State) -> TaskRecord:
    """A record as a crashed process leaves it: live, held by an owner whose lease is over."""
    record = TaskRecord.new(name, {"n": 7})
    await store.create(record, owner=DEAD_OWNER, lease=-1)
    if state is State.RUNNING:
        await store.update(record.started(), owner=DEAD_OWNER)
    return record


async def test_tasks_left_queued_run_at_the_next_start(
    store: Store, make_runner: RunnerFactory
) -> None:
    left = await leave_behind(store, "once", State.QUEUED)
    runner = await make_runner()
    done = await runner.wait(left.id)
    assert (done.state, done.result, done.attempts) == (State.SUCCEEDED, 7, 1)


async def test_interrupted_idempotent_tasks_run_again(
    store: Store, make_runner: RunnerFactory
) -> None:
    left = await leave_behind(store, "again", State.RUNNING)
    runner = await make_runner()
    done = await runner.wait(left.id)
    assert (done.state, done.result, done.attempts) == (State.SUCCEEDED, 7, 2)


async def test_interrupted_tasks_that_must_not_repeat_fail_as_interrupted(
    store: Store, make_runner: RunnerFactory
) -> None:
    left = await leave_behind(store, "once", State.RUNNING)
    runner = await make_runner()
    done = await runner.wait(left.id)
    assert done.state is State.FAILED
    assert done.attempts == 1
    assert done.error is not None
    assert done.error.type == "interrupted"
    assert done.error.message == INTERRUPTED


async def test_tasks_of_a_name_this_runner_lacks_are_left_for_a_runner_that_has_it(
    store: Store, make_runner: RunnerFactory
) -> None:
    # what the old version of an app left, or another app sharing the store
    left = await leave_behind(store, "renamed", State.RUNNING)
    mine = await leave_behind(store, "once", State.QUEUED)
    runner = await make_runner()  # its start claims: everything it can run, and only that
    assert (await runner.wait(mine.id)).state is State.SUCCEEDED
    stored = await runner.get(left.id)
    assert (stored.state, stored.owner, stored.attempts) == (State.RUNNING, DEAD_OWNER, 1)
    assert stored.error is None
    newer = Registry()

    @newer.task(idempotent=True)
    async def renamed(n: int) -> int:
        return n

    other = Runner(newer, store, poll_interval=0.02, lease=5.0)
    await other.start()
    try:
        done = await other.wait(left.id)
    finally:
        await other.close()
    assert (done.state, done.result, done.attempts) == (State.SUCCEEDED, 7, 2)


async def test_a_live_owners_tasks_are_not_taken(store: Store, make_runner: RunnerFactory) -> None:
    holder = await make_runner(max_running=1)
    busy = await holder.submit("hold")
    waiting = await holder.submit("once")
    other = await make_runner()
    assert await other.store.claim(other.owner, 5, limit=10, is_dead=lambda _: False) == []
    assert (await store.get(busy.id)).owner == holder.owner  # type: ignore[union-attr]
    assert (await store.get(waiting.id)).owner == holder.owner  # type: ignore[union-attr]


async def test_drain_hands_waiting_tasks_to_another_runner(
    store: Store, make_runner: RunnerFactory
) -> None:
    first = await make_runner(max_running=1)
    running = await first.submit("hold")
    waiting = [await first.submit("once", {"n": n}) for n in range(3)]
    await first.drain()
    second = await make_runner()
    finished = [await second.wait(record.id) for record in waiting]
    assert [r.result for r in finished] == [0, 1, 2]
    assert (await store.get(running.id)).state is State.RUNNING  # type: ignore[union-attr]


async def test_close_hands_back_running_tasks_for_the_next_start(
    store: Store, make_runner: RunnerFactory, registry: Registry
) -> None:
    first = Runner(registry, store, poll_interval=0.02, lease=5.0)
    await first.start()
    held = await first.submit("hold")
    while (await store.get(held.id)).state is not State.RUNNING:  # type: ignore[union-attr]
        await asyncio.sleep(0.01)
    await first.close()  # the shutdown window is over: the coroutine is cancelled
    left = await store.get(held.id)
    assert left is not None
    assert left.state is State.RUNNING
    assert left.owner is None
    second = await make_runner()
    done = await second.wait(held.id)
    assert done.error is not None
    assert done.error.type == "interrupted"


async def test_a_task_stored_without_a_runner_is_picked_up(
    store: Store, make_runner: RunnerFactory
) -> None:
    submitter = await make_runner()
    await submitter.drain()  # e.g. a command-line process that runs nothing itself
    stored = await submitter.submit("once", {"n": 3}, enqueue=False)
    assert stored.owner is None
    worker = await make_runner()
    assert (await worker.wait(stored.id)).result == 3


async def test_cancel_through_another_runner_reaches_the_owner(
    store: Store, make_runner: RunnerFactory
) -> None:
    owner = await make_runner()
    held = await owner.submit("hold")
    while (await store.get(held.id)).state is not State.RUNNING:  # type: ignore[union-attr]
        await asyncio.sleep(0.01)
    other = await make_runner()
    other.cancel_wait = 5.0
    cancelled = await other.cancel(held.id)
    assert cancelled.state is State.CANCELLED
    # the owner wrote that record, and frees the slot once the write has landed: a turn or
    # more of the loop after the other runner may already have read it
    async with asyncio.timeout(WAIT):
        while owner.running:
            await asyncio.sleep(0.01)


async def test_cancel_through_another_runner_of_a_waiting_task(
    store: Store, make_runner: RunnerFactory
) -> None:
    owner = await make_runner(max_running=1)
    await owner.submit("hold")
    waiting = await owner.submit("once")
    other = await make_runner()
    other.cancel_wait = 5.0
    assert (await other.cancel(waiting.id)).state is State.CANCELLED


async def test_a_busy_thread_keeps_its_task_held_until_it_returns(
    tmp_path: Path,
) -> None:
    registry = Registry()
    gate, entered = threading.Event(), threading.Event()

    @registry.task()
    def stubborn() -> None:
        entered.set()
        gate.wait(10)  # ignores cancellation

    store = MemoryStore()
    runner = Runner(registry, store, poll_interval=0.02, lease=5.0)
    await runner.start()
    record = await runner.submit("stubborn")
    await asyncio.to_thread(entered.wait, 5)
    await runner.close()
    held = await store.get(record.id)
    assert held is not None
    assert held.owner == runner.owner
    assert held.state is State.RUNNING
    gate.set()


async def test_a_woken_worker_claims_a_batch_at_once_not_at_its_next_poll(
    registry: Registry, store: Store
) -> None:
    """A worker that takes from the store (no broker) claims when woken: its free slot and
    one batch more (``prefetch``), and leaves the rest to the others."""
    slow = {"poll_interval": 20.0, "lease": 60.0}  # a poll would come long after WAIT
    web = Runner(
        registry, store, claim=False, dispatch=ForWorkers(store, poll_interval=20.0),
        holds=False, **slow,
    )  # fmt: skip
    worker = Runner(registry, store, max_running=1, claims_ahead=False, prefetch=1, **slow)
    await web.start()
    await worker.start()
    try:
        ids = [(await web.submit("hold")).id for _ in range(3)]
        worker.wake()
        async with asyncio.timeout(WAIT):
            while (held := [r.owner for r in [await store.get(i) for i in ids] if r]).count(
                worker.owner
            ) < 2:
                await asyncio.sleep(0.01)  # another runner writes: read the store
        assert held.count(None) == 1  # the third is left for another worker
        assert worker.running == 1
        assert worker.waiting == 1
    finally:
        await web.close()
        await worker.close()


async def test_tasks_claimed_as_the_drain_begins_are_handed_back(
    store: Store, registry: Registry, make_runner: RunnerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A claim under way when its runner starts to drain takes tasks that runner will never
    start: it hands them back at once, for another to run."""
    entered, go_on, returned = asyncio.Event(), asyncio.Event(), asyncio.Event()
    claim = store.claim

    async def held_claim(*args: Any, **kwargs: Any) -> list[TaskRecord]:
        entered.set()
        await go_on.wait()
        claimed = await claim(*args, **kwargs)
        returned.set()
        return claimed

    first = Runner(registry, store, poll_interval=0.02, lease=5.0)
    await first.start()
    monkeypatch.setattr(store, "claim", held_claim)  # the rounds after the start's own claim
    try:
        left = TaskRecord.new("once", {"n": 4})
        await store.create(left, owner=None, lease=5.0)
        async with asyncio.timeout(WAIT):
            await entered.wait()  # a claiming round of the first runner is under way
        await first.drain()
        go_on.set()
        async with asyncio.timeout(WAIT):
            await returned.wait()  # the first runner's claim has taken the task
        second = await make_runner()
        async with asyncio.timeout(WAIT):
            done = await second.wait(left.id)
        assert (done.state, done.result) == (State.SUCCEEDED, 4)
        assert done.owner == second.owner
    finally:
        await first.close()
