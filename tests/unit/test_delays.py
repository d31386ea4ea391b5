"""Delayed tasks from Python: `.options(delay=...)` and `at=`, stored scheduled, run when due."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from quart import Quart

from tasks import (
    InvalidOptions,
    MemoryStore,
    Registry,
    Runner,
    ShuttingDown,
    State,
    Store,
    Tasks,
    TooManyScheduled,
)
from tasks.testing import running
from tests.harness import WAIT

RunnerFactory = Callable[..., Coroutine[Any, Any, Runner]]

registry = Registry()
_PARIS = ZoneInfo("Europe/Paris")


@registry.task
async def ping(note: str = "") -> str:
    return note or "pong"


@pytest.fixture
async def make_runner() -> AsyncIterator[RunnerFactory]:
    runners: list[Runner] = []

    async def build(store: Store | None = None, **options: Any) -> Runner:
        options.setdefault("poll_interval", 0.05)
        options.setdefault("lease", 5.0)
        runner = Runner(registry, store or MemoryStore(), **options)
        await runner.start()
        runners.append(runner)
        return runner

    yield build
    for runner in runners:
        await runner.close()


def make_app(path: Path, **config: Any) -> Quart:
    app = Quart(__name__)
    app.config.update(TASKS_DATABASE=str(path), TASKS_POLL_INTERVAL=0.05, **config)
    Tasks(app, registry=registry)
    return app


async def test_a_delayed_task_is_scheduled_then_runs_once_due(make_runner: RunnerFactory) -> None:
    runner = await make_runner()
    record = await runner.submit("ping", delay=0.3)
    assert record.state is State.SCHEDULED
    assert record.owner is None
    assert record.run_at == record.created_at + timedelta(seconds=0.3)
    assert runner.waiting == 0  # a row in the store, not an entry in the queue
    async with asyncio.timeout(10):
        final = await runner.wait(record.id, poll_interval=0.05)
    assert final.state is State.SUCCEEDED
    assert final.started_at is not None
    assert final.run_at is not None
    assert final.started_at >= final.run_at
    assert final.result == "pong"


async def test_the_handle_takes_delay_and_at(tmp_path: Path) -> None:
    async with running(make_app(tmp_path / "t.db")) as harness:
        delayed = await ping.options(delay=timedelta(milliseconds=200)).submit(note="later")
        assert delayed.state is State.SCHEDULED
        moment = datetime.now(UTC) + timedelta(seconds=0.2)
        at = await ping.options(at=moment.astimezone(_PARIS)).submit()
        assert at.run_at == moment
        for record in (delayed, at):
            final = await harness.wait_for(record.id)
            assert final.state is State.SUCCEEDED
            assert final.started_at is not None
            assert final.run_at is not None
            assert final.started_at >= final.run_at


async def test_a_moment_that_has_passed_runs_now(make_runner: RunnerFactory) -> None:
    runner = await make_runner()
    past = datetime.now(UTC) - timedelta(hours=1)
    record = await runner.submit("ping", at=past)
    assert record.state is State.QUEUED
    assert record.run_at == past
    assert record.owner == runner.owner
    zero = await runner.submit("ping", delay=0)
    assert zero.state is State.QUEUED
    async with asyncio.timeout(10):
        assert (await runner.wait(record.id)).state is State.SUCCEEDED


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"delay": -1}, "delay must be a number of seconds from 0"),
        ({"delay": float("nan")}, "delay must be a number of seconds from 0"),
        ({"delay": 1e12}, "delay must be a number of seconds from 0"),
        ({"at": datetime(2030, 1, 1, 9, 0)}, "at must carry its UTC offset"),
        ({"delay": 5, "at": datetime(2030, 1, 1, tzinfo=UTC)}, "not both"),
    ],
)
async def test_bad_delays_are_refused_before_anything_is_stored(
    make_runner: RunnerFactory, options: dict[str, Any], message: str
) -> None:
    runner = await make_runner()
    with pytest.raises(InvalidOptions, match=message):
        await runner.submit("ping", **options)
    assert await runner.store.query() == []


async def test_cancelling_a_scheduled_task_ends_it_at_once(make_runner: RunnerFactory) -> None:
    runner = await make_runner(cancel_wait=600.0)  # an owner waited for would be unmistakable
    record = await runner.submit("ping", delay=3600)
    async with asyncio.timeout(WAIT):  # no waiting for an owner: nobody holds it
        cancelled = await runner.cancel(record.id)
    assert cancelled.state is State.CANCELLED
    assert record.run_at is not None
    assert await runner.store.take_due(runner.owner, 5, now=record.run_at, limit=5) == []


async def test_scheduled_tasks_have_their_own_bound(make_runner: RunnerFactory) -> None:
    runner = await make_runner(max_queued=0, max_scheduled=2)
    for _ in range(2):  # a full queue does not refuse tasks for later: they are rows
        await runner.submit("ping", delay=3600)
    with pytest.raises(TooManyScheduled, match="TASKS_MAX_SCHEDULED") as refused:
        await runner.submit("ping", delay=3600)
    assert refused.value.status == 503
    assert await runner.store.count(State.SCHEDULED) == 2


async def test_a_draining_runner_refuses_delayed_tasks(make_runner: RunnerFactory) -> None:
    runner = await make_runner()
    await runner.drain()
    with pytest.raises(ShuttingDown):
        await runner.submit("ping", delay=60)


async def test_a_delayed_task_survives_a_restart_in_between(tmp_path: Path) -> None:
    path = tmp_path / "tasks.sqlite3"
    async with running(make_app(path)) as first:
        record = await ping.options(delay=0.5).submit(note="kept")
        assert (await first.record(record.id)).state is State.SCHEDULED
    # the first app is gone; the record waits in the file, held by nobody
    async with running(make_app(path)) as second:
        stored = await second.record(record.id)
        assert stored.state in {State.SCHEDULED, State.QUEUED, State.RUNNING, State.SUCCEEDED}
        final = await second.wait_for(record.id)
    assert final.state is State.SUCCEEDED
    assert final.result == "kept"
    assert final.started_at is not None
    assert final.started_at - final.created_at >= timedelta(seconds=0.5)


async def test_a_runner_that_does_not_claim_leaves_due_tasks_to_others(
    make_runner: RunnerFactory,
) -> None:
    store = MemoryStore()
    idle = await make_runner(store=store, claim=False)
    record = await idle.submit("ping", delay=0.05)
    other = await make_runner(store=store)
    async with asyncio.timeout(10):
        final = await other.wait(record.id, poll_interval=0.05)
    assert final.state is State.SUCCEEDED


async def test_the_accepting_process_starts_a_delayed_task_on_time(tmp_path: Path) -> None:
    # upkeep rounds 10 s apart: only the alarm set for run_at can start it within 5 s
    app = make_app(tmp_path / "t.db", TASKS_LEASE=60)
    app.config["TASKS_POLL_INTERVAL"] = 10
    async with running(app) as harness:
        records = [await ping.options(delay=delay).submit() for delay in (0.4, 0.2, 0.3)]
        for record in records:
            final = await harness.wait_for(record.id, timeout=5)
            assert final.state is State.SUCCEEDED
            assert final.run_at is not None
            assert final.started_at is not None
            assert final.run_at <= final.started_at < final.run_at + timedelta(seconds=2)
