"""The runner on its own (no HTTP): limits, timeouts, retries, cancellation, progress."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import pytest

from tasks import (
    InvalidArguments,
    InvalidOptions,
    QueueFull,
    Registry,
    ShuttingDown,
    State,
    TaskAlreadyFinished,
    TaskNotFound,
    UnknownTask,
    current_task,
)
from tests.harness import RunnerFactory


async def test_a_coroutine_task_runs_and_its_result_is_stored(
    registry: Registry, make_runner: RunnerFactory
) -> None:
    @registry.task()
    async def add(a: int, b: int = 1) -> int:
        return a + b

    runner = await make_runner()
    record = await runner.submit("add", {"a": 2, "b": "3"})
    assert record.state is State.QUEUED
    assert record.kwargs == {"a": 2, "b": 3}
    done = await runner.wait(record.id)
    assert (done.state, done.result, done.attempts) == (State.SUCCEEDED, 5, 1)
    assert done.started_at
    assert done.finished_at
    assert done.created_at <= done.started_at


async def test_a_plain_function_runs_in_a_worker_thread(
    registry: Registry, make_runner: RunnerFactory
) -> None:
    @registry.task()
    def where() -> str:
        return threading.current_thread().name

    runner = await make_runner()
    done = await runner.wait((await runner.submit("where")).id)
    assert done.state is State.SUCCEEDED
    assert done.result != threading.current_thread().name


async def test_arguments_are_checked_before_acceptance(
    registry: Registry, make_runner: RunnerFactory
) -> None:
    @registry.task()
    async def greet(name: str, times: int = 1) -> None: ...

    runner = await make_runner()
    with pytest.raises(InvalidArguments, match="'times'"):
        await runner.submit("greet", {"name": "x", "times": "many"})
    with pytest.raises(InvalidArguments, match="'name' is required"):
        await runner.submit("greet", {})
    with pytest.raises(InvalidArguments, match="unexpected argument 'nmae'"):
        await runner.submit("greet", {"name": "x", "nmae": "y"})
    with pytest.raises(UnknownTask, match="registered tasks: greet"):
        await runner.submit("gret", {})
    with pytest.raises(InvalidOptions, match="timeout"):
        await runner.submit("greet", {"name": "x"}, timeout=0)
    assert await runner.store.query() == []


async def test_no_more_than_max_running_run_at_once(
    registry: Registry, make_runner: RunnerFactory
) -> None:
    release, full = asyncio.Event(), asyncio.Event()
    active, peak = 0, 0

    @registry.task()
    async def hold() -> None:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        if active == 2:
            full.set()
        await release.wait()
        active -= 1

    runner = await make_runner(max_running=2)
    records = [await runner.submit("hold") for _ in range(5)]
    await full.wait()
    assert (runner.running, runner.waiting) == (2, 3)
    release.set()
    await runner.join()
    assert peak == 2
    assert {(await runner.get(r.id)).state for r in records} == {State.SUCCEEDED}


async def test_thread_tasks_are_bounded_too(registry: Registry, make_runner: RunnerFactory) -> None:
    gate, full = threading.Event(), threading.Event()
    lock = threading.Lock()
    active, peak = 0, 0

    @registry.task()
    def block() -> None:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
            if active == 3:
                full.set()
        gate.wait(10)
        with lock:
            active -= 1

    runner = await make_runner(max_running=3)
    for _ in range(8):
        await runner.submit("block")
    assert await asyncio.to_thread(full.wait, 10)
    assert runner.waiting == 5
    gate.set()
    await runner.join()
    assert peak == 3


async def test_past_max_queued_new_tasks_are_refused(
    registry: Registry, make_runner: RunnerFactory
) -> None:
    release = asyncio.Event()

    @registry.task()
    async def hold() -> None:
        await release.wait()

    runner = await make_runner(max_running=1, max_queued=2)
    for _ in range(3):  # one runs, two wait
        await runner.submit("hold")
    while runner.running < 1:
        await asyncio.sleep(0)
    with pytest.raises(QueueFull, match="TASKS_MAX_QUEUED") as refused:
        await runner.submit("hold")
    assert refused.value.status == 503
    assert refused.value.retry_after >= 1
    assert len(await runner.store.query()) == 3
    release.set()


async def test_a_coroutine_past_its_timeout_fails_with_timeout(
    registry: Registry, make_runner: RunnerFactory
) -> None:
    @registry.task(timeout=0.05)
    async def stall() -> None:
        await asyncio.Event().wait()

    runner = await make_runner()
    done = await runner.wait((await runner.submit("stall")).id)
    assert done.state is State.FAILED
    assert done.error is not None
    assert done.error.type == "timeout"
    assert "0.05 s timeout" in done.error.message


async def test_a_thread_past_its_timeout_is_asked_to_stop(
    registry: Registry, make_runner: RunnerFactory
) -> None:
    stopped = threading.Event()

    @registry.task()
    def patient() -> None:
        if current_task().wait(30):
            stopped.set()

    runner = await make_runner()
    done = await runner.wait((await runner.submit("patient", timeout=0.05)).id)
    assert done.error is not None
    assert done.error.type == "timeout"
    assert stopped.is_set()  # the thread had returned before the record was finished


async def test_failures_are_retried_with_backoff_until_success(
    registry: Registry, make_runner: RunnerFactory
) -> None:
    calls: list[int] = []

    @registry.task(retries=3, backoff=0.01)
    async def flaky() -> str:
        calls.append(current_task().attempt)
        if len(calls) < 3:
            raise ConnectionError(f"try {len(calls)}")
        return "ok"

    runner = await make_runner()
    done = await runner.wait((await runner.submit("flaky")).id)
    assert (done.state, done.result, done.attempts, done.max_attempts) == (
        State.SUCCEEDED,
        "ok",
        3,
        4,
    )
    assert calls == [1, 2, 3]


async def test_exhausted_retries_fail_and_every_failure_is_logged(
    registry: Registry, make_runner: RunnerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    @registry.task(backoff=0.01)
    async def broken() -> None:
        raise ValueError("bad input file")

    runner = await make_runner()
    with caplog.at_level(logging.ERROR, logger="tasks"):
        record = await runner.submit("broken", retries=1)
        done = await runner.wait(record.id)
    assert (done.state, done.attempts) == (State.FAILED, 2)
    assert done.error is not None
    assert (done.error.type, done.error.message) == ("ValueError", "bad input file")
    failures = [r for r in caplog.records if record.id in r.getMessage()]
    assert len(failures) == 2
    assert "broken" in failures[0].getMessage()
    assert failures[-1].exc_info is not None


def test_backoff_doubles_up_to_its_cap(registry: Registry) -> None:
    @registry.task(retries=5, backoff=0.5, max_backoff=3)
    async def retried() -> None: ...

    delays = [registry.get("retried").retries.delay(n) for n in range(1, 6)]
    assert delays == [0.5, 1.0, 2.0, 3.0, 3.0]


async def test_cancelling_a_waiting_task_means_it_never_runs(
    registry: Registry, make_runner: RunnerFactory
) -> None:
    release = asyncio.Event()
    ran: list[str] = []

    @registry.task()
    async def hold(label: str) -> None:
        ran.append(label)
        await release.wait()

    runner = await make_runner(max_running=1)
    await runner.submit("hold", {"label": "first"})
    waiting = await runner.submit("hold", {"label": "second"})
    cancelled = await runner.cancel(waiting.id)
    assert cancelled.state is State.CANCELLED
    release.set()
    await runner.join()
    assert ran == ["first"]
    with pytest.raises(TaskAlreadyFinished, match="already cancelled"):
        await runner.cancel(waiting.id)


async def test_cancelling_a_running_coroutine_stops_it(
    registry: Registry, make_runner: RunnerFactory
) -> None:
    started = asyncio.Event()

    @registry.task()
    async def forever() -> None:
        started.set()
        await asyncio.Event().wait()

    runner = await make_runner()
    record = await runner.submit("forever")
    await started.wait()
    cancelled = await runner.cancel(record.id)
    assert cancelled.state is State.CANCELLED
    assert cancelled.finished_at
    assert runner.running == 0


async def test_cancelling_thread_work_is_cooperative(
    registry: Registry, make_runner: RunnerFactory
) -> None:
    started = threading.Event()

    @registry.task()
    def steps() -> None:
        task = current_task()
        started.set()
        while True:
            task.raise_if_cancelled()
            task.wait(0.01)

    runner = await make_runner()
    record = await runner.submit("steps")
    await asyncio.to_thread(started.wait, 5)
    cancelled = await runner.cancel(record.id)
    assert cancelled.state is State.CANCELLED


async def test_cancelling_unknown_or_finished_tasks_is_refused(
    registry: Registry, make_runner: RunnerFactory
) -> None:
    @registry.task()
    async def quick() -> None: ...

    runner = await make_runner()
    done = await runner.wait((await runner.submit("quick")).id)
    with pytest.raises(TaskAlreadyFinished, match="already succeeded"):
        await runner.cancel(done.id)
    with pytest.raises(TaskNotFound):
        await runner.cancel("missing")


async def test_progress_is_written_and_the_final_report_kept(
    registry: Registry, make_runner: RunnerFactory
) -> None:
    seen = asyncio.Event()
    proceed = asyncio.Event()

    @registry.task()
    async def steps(n: int) -> int:
        task = current_task()
        task.progress(1, n, "first")
        await proceed.wait()
        for step in range(2, n + 1):
            task.progress(step, n)
        return n

    runner = await make_runner(progress_interval=0)

    def on_write(record: Any) -> None:
        if record.progress is not None and record.progress.message == "first":
            seen.set()

    runner.subscribe(on_write)
    record = await runner.submit("steps", {"n": 50})
    await seen.wait()
    mid = await runner.get(record.id)
    assert mid.state is State.RUNNING
    assert mid.progress is not None
    assert (mid.progress.current, mid.progress.total) == (1, 50)
    proceed.set()
    done = await runner.wait(record.id)
    assert done.progress is not None
    assert done.progress.current == 50


async def test_thread_tasks_report_progress(registry: Registry, make_runner: RunnerFactory) -> None:
    @registry.task()
    def crunch(n: int) -> int:
        for step in range(1, n + 1):
            current_task().progress(step, n, "crunching")
        return n

    runner = await make_runner()
    done = await runner.wait((await runner.submit("crunch", {"n": 10})).id)
    assert done.progress is not None
    assert (done.progress.current, done.progress.total) == (10, 10)


async def test_a_result_that_is_not_json_fails_clearly(
    registry: Registry, make_runner: RunnerFactory
) -> None:
    @registry.task()
    async def odd() -> object:
        return object()

    runner = await make_runner()
    done = await runner.wait((await runner.submit("odd")).id)
    assert done.error is not None
    assert done.error.type == "invalid_result"


async def test_a_draining_runner_refuses_new_tasks(
    registry: Registry, make_runner: RunnerFactory
) -> None:
    @registry.task()
    async def quick() -> None: ...

    runner = await make_runner()
    await runner.drain()
    with pytest.raises(ShuttingDown):
        await runner.submit("quick")


async def test_a_flood_of_bad_arguments_gets_a_short_message(
    registry: Registry, make_runner: RunnerFactory
) -> None:
    @registry.task()
    async def small(n: int) -> None: ...

    runner = await make_runner()
    with pytest.raises(InvalidArguments) as refused:
        await runner.submit("small", {f"k{i}": i for i in range(5000)} | {"n": 1})
    assert refused.value.message.endswith("and 4990 more problems")
    assert len(refused.value.message) < 2000
