"""Two apps on one store, or the old and new version of one app: each runs only its own tasks.

App A registers ``a_task``, app B ``b_task``; each "process" opens the store on its own, as
separate processes do, on a SQLite file and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from tasks import MemoryStore, Registry, Runner, State, TaskRecord, store_from_url
from tasks.engine.distributed import broker_dispatch, broker_worker
from tasks.records import utcnow
from tests.brokers import BrokerConfig
from tests.conftest import RegistryAppFactory
from tests.harness import WAIT, serving


class Processes:
    """Runners on one store, each with a store object of its own as a process has."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.running: list[Runner] = []

    async def start(self, registry: Registry, **options: Any) -> Runner:
        store = store_from_url(self.url)
        await store.open()
        options.setdefault("poll_interval", 0.02)
        runner = Runner(registry, store, lease=5.0, **options)
        await runner.start()
        self.running.append(runner)
        return runner

    async def stop(self, runner: Runner) -> None:
        self.running.remove(runner)
        await runner.close()
        await runner.store.close()


def app_a() -> Registry:
    registry = Registry()

    @registry.task()
    async def a_task(n: int) -> int:
        return n

    return registry


def app_b() -> Registry:
    registry = Registry()

    @registry.task()
    async def b_task(n: int) -> int:
        return n

    return registry


@pytest.fixture
async def processes(database_url: str) -> AsyncIterator[Processes]:
    started = Processes(database_url)
    yield started
    for runner in reversed(started.running):
        await started.stop(runner)


def untouched(record: TaskRecord | None, state: State = State.QUEUED) -> bool:
    """Still as it was stored: held by nobody, never attempted, no error."""
    assert record is not None
    return (record.state, record.owner, record.attempts, record.error) == (state, None, 0, None)


async def test_an_app_never_fails_another_apps_tasks_and_claims_its_own_past_them(
    processes: Processes,
) -> None:
    a = await processes.start(app_a(), claim=False)
    theirs = [await a.submit("a_task", {"n": n}, enqueue=False) for n in range(10)]
    await processes.stop(a)  # A's tasks wait in the store, held by nobody

    b = await processes.start(app_b(), max_running=1)  # claims 2 at a time: fewer than A's 10
    ours = [await b.submit("b_task", {"n": n}, enqueue=False) for n in range(3)]
    for record in ours:
        assert (await b.wait(record.id)).state is State.SUCCEEDED  # claimed past A's
    await b.take(theirs[0].id)  # as a broker message for A's task would make it
    for record in theirs:
        assert untouched(await b.store.get(record.id))

    a_again = await processes.start(app_a())
    for record in theirs:
        done = await a_again.wait(record.id)
        assert (done.state, done.result, done.attempts) == (State.SUCCEEDED, record.kwargs["n"], 1)


async def test_a_due_delayed_task_of_another_app_is_not_taken(processes: Processes) -> None:
    a = await processes.start(app_a(), claim=False)
    due = utcnow() - timedelta(seconds=1)
    theirs = [
        TaskRecord.new("a_task", {"n": n}).replace(state=State.SCHEDULED, run_at=due)
        for n in range(5)
    ]
    for record in theirs:
        await a.store.create(record, owner=None, lease=5)
    await processes.stop(a)

    b = await processes.start(app_b(), max_running=1)
    assert await b.take_due(10) == []  # as a delayed task's alarm takes them
    mine = await b.submit("b_task", {"n": 1}, delay=0.05)
    assert mine.state is State.SCHEDULED
    assert (await b.wait(mine.id)).state is State.SUCCEEDED  # taken when due, past A's
    for record in theirs:
        assert untouched(await b.store.get(record.id), State.SCHEDULED)

    a_again = await processes.start(app_a())
    for record in theirs:
        assert (await a_again.wait(record.id)).state is State.SUCCEEDED


async def test_a_held_task_of_an_unknown_name_is_handed_back_not_failed(
    processes: Processes,
) -> None:
    b = await processes.start(app_b())
    stray = TaskRecord.new("a_task", {"n": 1})
    await b.store.create(stray, owner=b.owner, lease=5)  # held here, as a race could leave it
    b.enqueue(stray.id)
    await b.join()
    assert untouched(await b.store.get(stray.id))


async def test_health_the_record_and_the_dashboard_show_tasks_waiting_for_a_runner(
    make_registry_app: RegistryAppFactory, database_url: str
) -> None:
    store = store_from_url(database_url)
    await store.open()
    try:
        theirs = TaskRecord.new("a_task", {"n": 1})
        await store.create(theirs, owner=None, lease=5)
        async with serving(make_registry_app(app_b(), TASKS_DATABASE=database_url)) as api:
            health = await (await api.client.get("/healthz")).get_json()
            assert health["waiting_for_runner"] == {"a_task": 1}
            waiting = await api.api_record(theirs.id)
            assert waiting["state"] == "queued"
            assert waiting["waiting_for_runner"].startswith(
                "waiting for a process that runs a_task: this app has no task of that name"
            )
            mine = await api.finished((await api.submit("b_task", {"n": 2}))["id"])
            assert mine["waiting_for_runner"] is None
            page = await (await api.client.get("/")).get_data(as_text=True)
            assert page.count(">waiting for a process that runs a_task</span>") == 1
            cancelled = await api.client.delete(f"/tasks/{theirs.id}")  # a user may end it
            assert (await cancelled.get_json())["state"] == "cancelled"
            assert (await api.api_record(theirs.id))["waiting_for_runner"] is None
            health = await (await api.client.get("/healthz")).get_json()
            assert health["waiting_for_runner"] == {}
    finally:
        await store.close()


async def test_a_broker_message_for_another_apps_task_leaves_it_to_that_app(
    broker: BrokerConfig,
) -> None:
    store = MemoryStore()  # shared by the runners of both apps, as a database would be
    options: dict[str, Any] = {"poll_interval": 0.02, "lease": 5.0}

    def dispatch(worker: bool) -> Any:
        return broker_dispatch(
            broker.url, queue=broker.queue, store=store, poll_interval=0.02, prefetch=4,
            worker=worker,
        )  # fmt: skip

    web = Runner(app_a(), store, claim=False, dispatch=dispatch(False), holds=False, **options)
    to_b = dispatch(True)
    # takes messages only
    b = Runner(app_b(), store, claim=False, dispatch=to_b, holds=False, **options)
    handled: asyncio.Queue[str] = asyncio.Queue()

    async def take(task_id: str) -> None:
        await b.take(task_id)
        handled.put_nowait(task_id)

    receiver = broker_worker(to_b, take, concurrency=2)
    await web.start()
    await b.start()
    receiver.start()
    try:
        record = await web.submit("a_task", {"n": 5})
        async with asyncio.timeout(WAIT):
            assert await handled.get() == record.id
        assert untouched(await store.get(record.id))
    finally:
        receiver.stop_taking()
        await receiver.close()
        await b.close()
        await web.close()
    a = Runner(app_a(), store, **options)  # claims it from the store
    await a.start()
    try:
        done = await a.wait(record.id)
    finally:
        await a.close()
    assert (done.state, done.result, done.attempts) == (State.SUCCEEDED, 5, 1)
