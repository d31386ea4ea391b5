"""Periodic tasks: one run per tick whatever the number of processes, missed ticks, restarts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from quart import Quart

from tasks import MemoryStore, Registry, Runner, State, Store, TaskRecord, Tasks, store_from_url
from tasks.app.schedules import periodic, tick_once
from tasks.testing import running

RunnerFactory = Callable[..., Coroutine[Any, Any, Runner]]

registry = Registry()
runs: list[str] = []


@registry.task(every=timedelta(seconds=2))
async def beat(label: str = "beat") -> str:
    runs.append(label)
    return label


@registry.task(cron="0 3 * * *", catch_up=False)
async def nightly() -> None:
    return None


@registry.task
async def plain() -> None:
    return None


BEAT, NIGHTLY = registry.get("beat"), registry.get("nightly")
T0 = datetime(2030, 5, 6, 3, 0, tzinfo=UTC)  # a tick of both schedules


@pytest.fixture
async def make_runner() -> AsyncIterator[RunnerFactory]:
    """Runners on stores of the test's choosing; a test that takes a database asks for it
    first, so that the runners close before the database goes."""
    runners: list[Runner] = []

    async def build(store: Store, **options: Any) -> Runner:
        options.setdefault("poll_interval", 0.05)
        options.setdefault("lease", 5.0)
        runner = Runner(registry, store, **options)
        await runner.start()
        runners.append(runner)
        return runner

    yield build
    for runner in runners:
        await runner.close()
        await runner.store.close()


async def opened(url: str) -> Store:
    store = store_from_url(url)
    await store.open()
    return store


def ticks_of(records: list[TaskRecord], name: str = "beat") -> list[datetime]:
    return sorted(record.tick for record in records if record.schedule == name and record.tick)


def test_periodic_tasks_are_declared_on_the_task() -> None:
    assert [definition.name for definition in periodic(registry)] == ["beat", "nightly"]
    assert BEAT.to_dict()["schedule"] == {
        "every": 2.0,
        "cron": None,
        "timezone": "UTC",
        "catch_up": True,
    }
    assert registry.get("plain").to_dict()["schedule"] is None


def test_a_periodic_task_must_run_without_arguments() -> None:
    with pytest.raises(TypeError, match="user_id has no default"):

        @Registry().task(every=timedelta(minutes=1))
        async def report(user_id: int) -> None: ...


async def test_a_due_tick_creates_one_ordinary_run(make_runner: RunnerFactory) -> None:
    runner = await make_runner(MemoryStore())
    assert await tick_once(runner, [BEAT], T0 + timedelta(seconds=0.1)) == 1
    assert await tick_once(runner, [BEAT], T0 + timedelta(seconds=0.5)) == 0  # the same tick
    (run,) = await runner.store.query()
    assert (run.name, run.schedule, run.tick, run.kwargs) == ("beat", "beat", T0, {"label": "beat"})
    async with asyncio.timeout(10):
        final = await runner.wait(run.id)
    assert final.state is State.SUCCEEDED
    assert await tick_once(runner, [BEAT], T0 + timedelta(seconds=2.2)) == 1
    assert ticks_of(await runner.store.query()) == [T0, T0 + timedelta(seconds=2)]


async def test_a_new_schedule_starts_with_the_next_tick_not_a_past_one(
    make_runner: RunnerFactory,
) -> None:
    runner = await make_runner(MemoryStore())
    # deployed at 10:00: the nightly tick of 03:00 was not missed, the task did not exist
    assert await tick_once(runner, [NIGHTLY], T0 + timedelta(hours=7)) == 0
    (mark,) = await runner.store.schedule_marks()
    assert (mark.tick, mark.task_id) == (T0, None)
    assert await tick_once(runner, [NIGHTLY], T0 + timedelta(days=1, seconds=1)) == 1


@pytest.mark.parametrize("catch_up", [True, False])
async def test_after_downtime_the_missed_ticks_run_once_or_not_at_all(
    database_url: str, make_runner: RunnerFactory, catch_up: bool
) -> None:
    definition = BEAT if catch_up else NIGHTLY
    period = timedelta(seconds=2) if catch_up else timedelta(days=1)
    first = await make_runner(await opened(database_url))
    assert await tick_once(first, [definition], T0) == 1
    await first.close()  # the process stops; three ticks pass while nothing runs
    restarted = await make_runner(await opened(database_url))
    late = T0 + 3 * period + period * 0.9
    created = await tick_once(restarted, [definition], late)
    expected = [T0, T0 + 3 * period] if catch_up else [T0]
    assert created == (1 if catch_up else 0)
    assert ticks_of(await restarted.store.query(), definition.name) == expected
    (mark,) = await restarted.store.schedule_marks()
    assert mark.tick == T0 + 3 * period  # handled (run or skipped): never again


async def test_processes_racing_at_every_tick_make_exactly_one_run_per_tick(
    database_url: str, make_runner: RunnerFactory
) -> None:
    runners = [await make_runner(await opened(database_url)) for _ in range(3)]
    ticks = [T0 + timedelta(seconds=2 * n) for n in range(8)]
    for tick in ticks:
        created = await asyncio.gather(
            *(tick_once(runner, [BEAT], tick + timedelta(milliseconds=5)) for runner in runners)
        )
        assert sum(created) == 1
    assert ticks_of(await runners[0].store.query(limit=100)) == ticks


async def test_a_full_queue_leaves_the_run_to_whoever_claims_it(
    make_runner: RunnerFactory,
) -> None:
    store = MemoryStore()
    full = await make_runner(store, max_queued=0, claim=False)
    assert await tick_once(full, [BEAT], T0) == 1
    (run,) = await store.query()
    assert run.owner is None
    assert run.state is State.QUEUED
    other = await make_runner(store)
    async with asyncio.timeout(10):
        assert (await other.wait(run.id, poll_interval=0.05)).state is State.SUCCEEDED


async def test_a_served_app_runs_its_periodic_task_tick_by_tick(tmp_path: Path) -> None:
    app = Quart(__name__)
    app.config.update(TASKS_DATABASE=str(tmp_path / "tasks.sqlite3"))
    fast = Registry()
    seen: asyncio.Queue[TaskRecord] = asyncio.Queue()

    @fast.task(every=timedelta(seconds=1))
    async def tick() -> None:
        return None

    Tasks(app, registry=fast)
    async with running(app) as harness:
        harness.runner.subscribe(
            lambda record: seen.put_nowait(record) if record.state.terminal else None
        )
        finished: list[TaskRecord] = []
        async with asyncio.timeout(10):
            while len(finished) < 2:
                finished.append(await seen.get())
    first, second = finished
    assert first.tick is not None
    assert second.tick == first.tick + timedelta(seconds=1)
    assert {first.state, second.state} == {State.SUCCEEDED}
    assert first.started_at is not None
    assert first.started_at >= first.tick


async def test_a_process_that_does_not_claim_keeps_no_schedule(tmp_path: Path) -> None:
    app = Quart(__name__)
    app.config.update(TASKS_DATABASE=":memory:", TASKS_CLAIM=False)
    Tasks(app, registry=registry)
    async with running(app) as harness:
        assert "periodic clock" not in harness.app.extensions["tasks"].services
