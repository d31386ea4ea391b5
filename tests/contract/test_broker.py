"""Broker mode's delivery rules, on a real Redis and RabbitMQ: the store decides who runs.

Duplicate deliveries run a task once; a broker that does not answer never fails a
submission, and the tasks run once it answers (or once a worker claims them from the
store); the web keeps its backpressure; a missing extra or a bad URL is refused at once.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from tasks import MemoryStore, QueueFull, Registry, Runner, State, Store, TaskRecord
from tasks.engine.broker import BrokerDispatch
from tasks.engine.distributed import broker_dispatch, broker_worker, check_broker
from tests.brokers import BrokerConfig, Relay
from tests.harness import app_with_registry, serving

WAIT = 30.0
POLL = 0.05
OPTIONS: dict[str, Any] = {"poll_interval": POLL, "lease": 5.0, "max_running": 4}


def dispatch_to(url: str, queue: str, store: Store, *, worker: bool = False) -> BrokerDispatch:
    dispatch = broker_dispatch(
        url, queue=queue, store=store, poll_interval=POLL, prefetch=4, worker=worker
    )
    dispatch.connection.retry_interval = POLL  # reconnect attempts come quickly in tests
    return dispatch


@asynccontextmanager
async def web_runner(
    registry: Registry, store: Store, url: str, queue: str, **options: Any
) -> AsyncIterator[Runner]:
    """A runner that hands every task to the broker and runs none."""
    runner = Runner(
        registry,
        store,
        claim=False,
        dispatch=dispatch_to(url, queue, store),
        holds=False,
        **OPTIONS | options,
    )
    await runner.start()
    try:
        yield runner
    finally:
        await runner.close()


@asynccontextmanager
async def worker_runner(
    registry: Registry, store: Store, url: str, queue: str, **options: Any
) -> AsyncIterator[Runner]:
    """A runner that takes the broker's tasks (and claims from the store, unless told not to)."""
    dispatch = dispatch_to(url, queue, store, worker=True)
    runner = Runner(
        registry, store, dispatch=dispatch, holds=False, claims_ahead=False, **OPTIONS | options
    )
    receiver = broker_worker(dispatch, runner.take, concurrency=runner.max_running)
    await runner.start()
    receiver.start()
    try:
        yield runner
    finally:
        receiver.stop_taking()
        await runner.drain()
        await receiver.close()
        await runner.close()


async def until(store: Store, task_id: str, check: Callable[[TaskRecord], bool]) -> TaskRecord:
    async with asyncio.timeout(WAIT):
        while True:
            record = await store.get(task_id)
            assert record is not None
            if check(record):
                return record
            await asyncio.sleep(POLL)  # written by another runner: poll the store


def ended(record: TaskRecord) -> bool:
    return record.state.terminal


async def test_a_task_delivered_many_times_runs_once(broker: BrokerConfig) -> None:
    registry, store = Registry(), MemoryStore()
    runs: list[str] = []
    release = asyncio.Event()

    @registry.task()
    async def once(tag: str) -> None:
        runs.append(tag)
        await release.wait()

    async with (
        web_runner(registry, store, broker.url, broker.queue) as web,
        worker_runner(registry, store, broker.url, broker.queue) as first,
        worker_runner(registry, store, broker.url, broker.queue) as second,
    ):
        record = await web.submit("once", {"tag": "a"})
        await until(store, record.id, lambda r: r.state is State.RUNNING)
        # Redeliveries, to the worker that runs it and to another one: neither takes it.
        await asyncio.wait_for(asyncio.gather(first.take(record.id), second.take(record.id)), WAIT)
        release.set()
        done = await until(store, record.id, ended)
        await asyncio.wait_for(asyncio.gather(first.take(record.id), second.take(record.id)), WAIT)
    assert done.state is State.SUCCEEDED
    assert runs == ["a"]


async def test_tasks_spread_over_two_workers(broker: BrokerConfig) -> None:
    registry, store = Registry(), MemoryStore()
    owners: set[str] = set()
    both = asyncio.Event()
    started = 0

    @registry.task()
    async def meet() -> None:
        nonlocal started
        started += 1
        if started >= 2:
            both.set()
        await asyncio.wait_for(both.wait(), WAIT)

    def note_owner(record: TaskRecord) -> None:
        if record.state is State.RUNNING and record.owner is not None:
            owners.add(record.owner)

    async with (
        web_runner(registry, store, broker.url, broker.queue) as web,
        worker_runner(registry, store, broker.url, broker.queue, max_running=1) as first,
        worker_runner(registry, store, broker.url, broker.queue, max_running=1) as second,
    ):
        first.subscribe(note_owner)
        second.subscribe(note_owner)
        records = [await web.submit("meet") for _ in range(4)]
        done = [await until(store, record.id, ended) for record in records]
    assert {record.state for record in done} == {State.SUCCEEDED}
    assert owners == {first.owner, second.owner}


async def test_an_unreachable_broker_never_fails_a_submission(
    broker: BrokerConfig, caplog: pytest.LogCaptureFixture
) -> None:
    """Stored at once; sent once the broker answers; meanwhile claimable from the store."""
    registry, store = Registry(), MemoryStore()

    @registry.task()
    async def hello() -> str:
        return "hello"

    relay = Relay(broker.url)  # not started: nothing answers at its port yet
    caplog.set_level(logging.INFO, logger="tasks")
    async with (
        web_runner(registry, store, relay.url, broker.queue) as web,
        # Claiming nothing from the store: only the broker's message can run the task.
        worker_runner(registry, store, broker.url, broker.queue, claim=False),
    ):
        record = await web.submit("hello")
        assert (record.state, record.owner) == (State.QUEUED, None)
        assert (await store.get(record.id)) is not None
        async with asyncio.timeout(WAIT):
            while "does not answer" not in caplog.text:
                await asyncio.sleep(POLL)
        assert (await store.get(record.id)).state is State.QUEUED  # type: ignore[union-attr]
        await relay.start()
        try:
            done = await until(store, record.id, ended)
        finally:
            await relay.stop()
    assert (done.state, done.result) == (State.SUCCEEDED, "hello")
    assert "task broker at" in caplog.text
    assert "retrying in" in caplog.text


async def test_a_worker_started_before_its_broker_waits_for_it(
    broker: BrokerConfig, caplog: pytest.LogCaptureFixture
) -> None:
    registry, store = Registry(), MemoryStore()

    @registry.task()
    async def hello() -> str:
        return "hello"

    relay = Relay(broker.url)
    caplog.set_level(logging.INFO, logger="tasks")
    async with (
        worker_runner(registry, store, relay.url, broker.queue, claim=False),
        web_runner(registry, store, broker.url, broker.queue) as web,
    ):
        async with asyncio.timeout(WAIT):
            while "does not answer" not in caplog.text:
                await asyncio.sleep(POLL)
        assert f"127.0.0.1:{relay.port}" in caplog.text  # the line names the broker
        await relay.start()
        try:
            record = await web.submit("hello")
            done = await until(store, record.id, ended)
        finally:
            await relay.stop()
    assert done.state is State.SUCCEEDED


async def test_a_lost_message_still_runs_from_the_store(broker: BrokerConfig) -> None:
    registry, store = Registry(), MemoryStore()

    @registry.task()
    async def hello() -> str:
        return "hello"

    async with worker_runner(registry, store, broker.url, broker.queue):
        submitter = Runner(registry, store, claim=False, **OPTIONS)
        await submitter.start()
        try:
            # Stored for anyone to run, and no message sent: as if the broker lost it.
            record = await submitter.submit("hello", enqueue=False)
            done = await until(store, record.id, ended)
        finally:
            await submitter.close()
    assert done.state is State.SUCCEEDED


async def test_the_web_refuses_past_the_waiting_count_it_sees(broker: BrokerConfig) -> None:
    registry, store = Registry(), MemoryStore()

    @registry.task()
    async def idle() -> None: ...

    async with web_runner(registry, store, broker.url, broker.queue, max_queued=3) as web:
        for _ in range(3):
            await web.submit("idle")
        assert web.waiting == 3
        with pytest.raises(QueueFull, match="3 tasks are already waiting"):
            await web.submit("idle")
        async with asyncio.timeout(WAIT):  # the store's count replaces the local one
            while web.waiting != 3 or web._dispatch.backlog != 3:  # type: ignore[attr-defined]
                await asyncio.sleep(POLL)
        assert await store.count(State.QUEUED) == 3


async def test_the_api_answers_503_when_the_waiting_queue_is_full(broker: BrokerConfig) -> None:
    registry = Registry()

    @registry.task()
    async def idle() -> None: ...

    app = app_with_registry(
        registry, TASKS_DATABASE=":memory:", TASKS_MAX_QUEUED=2, **broker.config()
    )
    async with serving(app) as api:
        for _ in range(2):
            assert (await api.client.post("/tasks/idle")).status_code == 202
        refused = await api.client.post("/tasks/idle")
        assert refused.status_code == 503
        assert (await refused.get_json())["error"]["code"] == "queue_full"
        health = await (await api.client.get("/healthz")).get_json()
        assert (health["running"], health["waiting"]) == (0, 2)


def test_a_broker_url_is_checked_when_the_app_is_built() -> None:
    with pytest.raises(ValueError, match="TASKS_BROKER: unsupported task broker 'nats://x'"):
        app_with_registry(Registry(), TASKS_DATABASE=":memory:", TASKS_BROKER="nats://x")


@pytest.mark.parametrize(
    ("url", "extra", "module"),
    [("redis://127.0.0.1:6379/0", "redis", "taskiq_redis"), ("amqp://h/", "rabbitmq", "aio_pika")],
)
def test_a_missing_extra_is_named(
    monkeypatch: pytest.MonkeyPatch, url: str, extra: str, module: str
) -> None:
    find_spec = importlib.util.find_spec

    def without(name: str, *args: Any) -> Any:
        return None if name == module else find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", without)
    with pytest.raises(ValueError, match=rf"needs the '{extra}' extra.*\[{extra}\]'"):
        check_broker(url)
    with pytest.raises(
        ValueError, match=rf"TASKS_BROKER: .*pip install -e '\.\[{extra}\]' in its clone"
    ):
        app_with_registry(Registry(), TASKS_DATABASE=":memory:", TASKS_BROKER=url)
