"""One contract, every dispatch: the same tests run in-process, through each broker, and
through the store alone.

In-process, one runner accepts and runs the tasks. Through a broker, a "web" runner stores
each task and hands it to the broker, and a "worker" runner (with a
:class:`~tasks.engine.worker.BrokerWorker`) takes it and runs it; through the store, the web
runner only stores it and the worker (with a :class:`~tasks.engine.follow.StoreFollower`)
takes it from there. Both share one store, as processes share one database. What a user
sees must not differ: results, the runner that runs a task as its owner, progress in the
store, cancellation through the runner that accepted the task, timeouts, retries, and
tasks stored without a runner.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from tasks import MemoryStore, Registry, Runner, State, TaskRecord, current_task
from tasks.engine.delays import DueAlarm
from tasks.engine.dispatch import ForWorkers
from tasks.engine.distributed import broker_dispatch, broker_worker
from tasks.engine.follow import StoreFollower
from tasks.engine.worker import BrokerWorker
from tests.brokers import BrokerConfig, broker_config

WAIT = 30.0
POLL = 0.05


@dataclass
class System:
    """Where tasks are submitted (``web``) and the runner that runs them (``worker``)."""

    web: Runner
    worker: Runner
    receivers: list[BrokerWorker] = field(default_factory=list)

    async def wait(self, task_id: str) -> TaskRecord:
        async with asyncio.timeout(WAIT):
            return await self.web.wait(task_id, poll_interval=POLL)

    async def until(self, task_id: str, check: Callable[[TaskRecord], bool]) -> TaskRecord:
        """Read the task from the store until ``check`` holds (another runner writes it)."""
        async with asyncio.timeout(WAIT):
            while not check(record := await self.web.get(task_id)):
                await asyncio.sleep(POLL)  # the writer is another runner: poll the store
        return record


@pytest.fixture
def registry() -> Registry:
    return Registry()


@pytest.fixture(params=["in-process", "store", "redis", "rabbitmq"])
async def system(request: pytest.FixtureRequest, registry: Registry) -> AsyncIterator[System]:
    store = MemoryStore()
    options: dict[str, Any] = {"poll_interval": POLL, "lease": 5.0, "max_running": 4}
    if request.param == "in-process":
        runner = Runner(registry, store, **options)
        await runner.start()
        yield System(runner, runner)
        await runner.close()
        return
    if request.param == "store":
        async for system in store_system(registry, store, options):
            yield system
        return
    with broker_config(request) as config:
        async for system in broker_system(registry, store, config, options):
            yield system


async def store_system(
    registry: Registry, store: MemoryStore, options: dict[str, Any]
) -> AsyncIterator[System]:
    """A web runner that only stores its tasks, and a worker runner that takes them."""
    dispatch = ForWorkers(store, poll_interval=POLL)
    web = Runner(registry, store, claim=False, dispatch=dispatch, holds=False, **options)
    worker = Runner(registry, store, claims_ahead=False, **options)
    await web.start()
    await worker.start()
    alarm = DueAlarm(worker)
    alarm.start()
    follower = StoreFollower(worker, store, alarm, poll=POLL)
    follower.start()
    yield System(web, worker)
    await web.close()
    await follower.stop()
    await alarm.stop()
    await worker.close()


async def broker_system(
    registry: Registry, store: MemoryStore, config: BrokerConfig, options: dict[str, Any]
) -> AsyncIterator[System]:
    """A web runner handing tasks to the broker, and a worker runner taking them."""

    def dispatch(*, worker: bool) -> Any:
        return broker_dispatch(
            config.url,
            queue=config.queue,
            store=store,
            poll_interval=POLL,
            prefetch=4,
            worker=worker,
        )

    web = Runner(
        registry, store, claim=False, dispatch=dispatch(worker=False), holds=False, **options
    )
    worker_dispatch = dispatch(worker=True)
    worker = Runner(
        registry, store, dispatch=worker_dispatch, holds=False, claims_ahead=False, **options
    )
    receiver = broker_worker(worker_dispatch, worker.take, concurrency=4)
    await web.start()
    await worker.start()
    receiver.start()
    async with asyncio.timeout(WAIT):
        await worker_dispatch.connection.connected.wait()
    yield System(web, worker, [receiver])
    receiver.stop_taking()
    await web.close()
    await worker.drain()
    await receiver.close()
    await worker.close()


async def test_a_task_runs_on_the_runner_that_runs_tasks(
    registry: Registry, system: System
) -> None:
    entered, release = asyncio.Event(), asyncio.Event()

    @registry.task()
    async def hold(n: int) -> int:
        entered.set()
        await release.wait()
        return n * 2

    record = await system.web.submit("hold", {"n": 21})
    running = await system.until(record.id, lambda r: r.state is State.RUNNING)
    assert running.owner == system.worker.owner
    release.set()
    done = await system.wait(record.id)
    assert (done.state, done.result, done.attempts) == (State.SUCCEEDED, 42, 1)
    assert done.owner == system.worker.owner  # the process that ended it


async def test_progress_is_written_to_the_store(registry: Registry, system: System) -> None:
    release = asyncio.Event()

    @registry.task()
    async def steps() -> None:
        current_task().progress(1, 3, "first")
        await release.wait()

    record = await system.web.submit("steps")
    seen = await system.until(record.id, lambda r: r.progress is not None)
    assert seen.progress is not None
    assert (seen.progress.current, seen.progress.total, seen.progress.message) == (1, 3, "first")
    release.set()
    assert (await system.wait(record.id)).state is State.SUCCEEDED


async def test_cancelling_through_the_accepting_runner_stops_a_running_coroutine(
    registry: Registry, system: System
) -> None:
    @registry.task()
    async def forever() -> None:
        await asyncio.Event().wait()

    record = await system.web.submit("forever")
    await system.until(record.id, lambda r: r.state is State.RUNNING)
    await system.web.cancel(record.id)
    assert (await system.wait(record.id)).state is State.CANCELLED


async def test_cancelling_thread_work_is_cooperative(registry: Registry, system: System) -> None:
    started = threading.Event()

    @registry.task()
    def patient() -> None:
        started.set()
        while not current_task().wait(0.01):
            pass
        current_task().raise_if_cancelled()

    record = await system.web.submit("patient")
    assert await asyncio.to_thread(started.wait, WAIT)
    await system.web.cancel(record.id)
    assert (await system.wait(record.id)).state is State.CANCELLED


async def test_a_waiting_task_cancelled_never_runs(registry: Registry, system: System) -> None:
    ran = []
    release = asyncio.Event()

    @registry.task()
    async def hold() -> None:
        await release.wait()

    @registry.task()
    async def later() -> None:
        ran.append(True)

    holding = [await system.web.submit("hold") for _ in range(system.worker.max_running)]
    for record in holding:  # every slot is taken: the next task waits
        await system.until(record.id, lambda r: r.state is State.RUNNING)
    record = await system.web.submit("later")
    await system.web.cancel(record.id)
    release.set()
    assert (await system.wait(record.id)).state is State.CANCELLED
    for each in holding:
        assert (await system.wait(each.id)).state is State.SUCCEEDED
    assert ran == []


async def test_an_attempt_past_its_timeout_fails(registry: Registry, system: System) -> None:
    @registry.task(timeout=0.05)
    async def slow() -> None:
        await asyncio.sleep(30)

    done = await system.wait((await system.web.submit("slow")).id)
    assert done.state is State.FAILED
    assert done.error is not None
    assert done.error.type == "timeout"


async def test_failures_are_retried_with_backoff(registry: Registry, system: System) -> None:
    calls: list[int] = []

    @registry.task(retries=2, backoff=0.01)
    async def flaky() -> str:
        calls.append(current_task().attempt)
        if len(calls) < 3:
            raise RuntimeError("not yet")
        return "done"

    done = await system.wait((await system.web.submit("flaky")).id)
    assert (done.state, done.result, done.attempts) == (State.SUCCEEDED, "done", 3)
    assert calls == [1, 2, 3]


async def test_a_task_stored_without_a_runner_is_run(registry: Registry, system: System) -> None:
    @registry.task()
    async def stored() -> str:
        return "ran"

    record = await system.web.submit("stored", enqueue=False)
    assert record.owner is None
    done = await system.wait(record.id)
    assert (done.state, done.result) == (State.SUCCEEDED, "ran")


async def test_many_tasks_all_run_once(registry: Registry, system: System) -> None:
    ran: list[int] = []

    @registry.task()
    async def note(n: int) -> int:
        ran.append(n)
        await asyncio.sleep(0.01)
        return n

    records = [await system.web.submit("note", {"n": n}) for n in range(20)]
    done = [await system.wait(record.id) for record in records]
    assert all(record.state is State.SUCCEEDED for record in done)
    assert sorted(ran) == list(range(20))


async def test_a_delayed_task_runs_when_due(registry: Registry, system: System) -> None:
    @registry.task()
    async def later() -> str:
        return "later"

    record = await system.web.submit("later", delay=0.2)
    assert (record.state, record.owner) == (State.SCHEDULED, None)
    done = await system.wait(record.id)
    assert (done.state, done.result) == (State.SUCCEEDED, "later")
    assert done.started_at is not None
    assert done.run_at is not None
    assert done.started_at >= done.run_at


async def test_an_idempotency_key_gives_the_same_task_once(
    registry: Registry, system: System
) -> None:
    ran: list[int] = []

    @registry.task()
    async def once(n: int) -> int:
        ran.append(n)
        return n

    first = await system.web.submit("once", {"n": 1}, key="order-7")
    again = await system.web.submit("once", {"n": 1}, key="order-7")
    assert again.id == first.id
    assert (await system.wait(first.id)).state is State.SUCCEEDED
    assert ran == [1]
