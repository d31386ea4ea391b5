"""Workflows on one runner: steps that run once, children, waiting, and their failures."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from tasks import (
    ChildFailed,
    MemoryStore,
    Registry,
    Runner,
    State,
    StoreUnavailable,
    TaskRecord,
    current_task,
)
from tasks.testing import run_task
from tests.harness import WAIT, RunnerFactory


async def finished(runner: Runner, record: TaskRecord) -> TaskRecord:
    async with asyncio.timeout(WAIT):
        return await runner.wait(record.id, poll_interval=0.05)


async def test_a_retry_skips_the_steps_that_succeeded(
    registry: Registry, make_runner: RunnerFactory
) -> None:
    charged: list[int] = []

    def charge(order: int) -> dict[str, int]:
        charged.append(order)
        return {"order": order, "cents": 1250}

    @registry.task(retries=2, backoff=0.01)
    async def fulfil(order: int) -> dict[str, Any]:
        task = current_task()
        receipt = await task.step("charge", charge, order)
        invoice = await task.step("invoice", lambda: f"invoice-{order}")
        if task.attempt < 3:
            raise ConnectionError("the warehouse did not answer")
        await task.step("notify", lambda: None)
        return {"receipt": receipt, "invoice": invoice}

    runner = await make_runner()
    done = await finished(runner, await runner.submit("fulfil", {"order": 7}))
    assert done.state is State.SUCCEEDED
    assert done.attempts == 3
    assert charged == [7]  # once, though the task ran three times
    assert done.result == {"receipt": {"order": 7, "cents": 1250}, "invoice": "invoice-7"}
    assert [(step.name, step.state) for step in done.steps] == [
        ("charge", State.SUCCEEDED),
        ("invoice", State.SUCCEEDED),
        ("notify", State.SUCCEEDED),
    ]
    assert done.steps[0].result == {"order": 7, "cents": 1250}
    assert all(step.finished_at is not None for step in done.steps)


async def test_a_step_returns_its_json_form_on_every_run(
    registry: Registry, make_runner: RunnerFactory
) -> None:
    seen: list[Any] = []

    @registry.task(retries=1, backoff=0.01)
    async def pair() -> None:
        task = current_task()
        seen.append(await task.step("pair", lambda: (1, "two")))
        if task.attempt == 1:
            raise RuntimeError("again")

    runner = await make_runner()
    done = await finished(runner, await runner.submit("pair"))
    assert done.state is State.SUCCEEDED
    assert seen == [[1, "two"], [1, "two"]]


async def test_a_failed_step_is_recorded_and_runs_again_on_the_retry(
    registry: Registry, make_runner: RunnerFactory
) -> None:
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise TimeoutError("the mail server timed out")
        return "sent"

    states: list[tuple[str, str | None]] = []

    @registry.task(retries=1, backoff=0.01)
    async def mail() -> str:
        result: str = await current_task().step("send", flaky)
        return result

    runner = await make_runner()

    def on_write(record: TaskRecord) -> None:
        if record.steps and record.state is State.QUEUED:  # between the two attempts
            step = record.steps[0]
            states.append((step.state.value, step.error.type if step.error else None))

    runner.subscribe(on_write)
    done = await finished(runner, await runner.submit("mail"))
    assert (done.state, done.result, len(calls)) == (State.SUCCEEDED, "sent", 2)
    assert states == [("failed", "TimeoutError")]
    assert done.steps[0].state is State.SUCCEEDED
    assert done.steps[0].error is None


async def test_a_step_name_used_twice_in_one_run_fails_clearly(
    registry: Registry, make_runner: RunnerFactory
) -> None:
    @registry.task()
    async def loop() -> None:
        for _ in range(2):
            await current_task().step("send", lambda: None)

    runner = await make_runner()
    done = await finished(runner, await runner.submit("loop"))
    assert done.state is State.FAILED
    assert done.error is not None
    assert done.error.type == "WorkflowChanged"
    assert "unique within a run" in done.error.message


async def test_a_step_given_other_arguments_on_a_rerun_is_refused(
    registry: Registry, make_runner: RunnerFactory
) -> None:
    @registry.task(retries=1, backoff=0.01)
    async def drift() -> None:
        task = current_task()
        await task.step("charge", lambda cents: cents, 100 * task.attempt)
        raise RuntimeError("fail the first attempt")

    runner = await make_runner()
    done = await finished(runner, await runner.submit("drift"))
    assert done.state is State.FAILED
    assert done.attempts == 2
    assert done.error is not None
    assert done.error.type == "WorkflowChanged"
    assert "other arguments" in done.error.message


async def test_a_result_that_is_not_json_fails_the_step(
    registry: Registry, make_runner: RunnerFactory
) -> None:
    @registry.task()
    async def opaque() -> None:
        await current_task().step("lock", threading.Lock)

    runner = await make_runner()
    done = await finished(runner, await runner.submit("opaque"))
    assert done.state is State.FAILED
    assert done.error is not None
    assert "cannot be stored as JSON" in done.error.message
    assert done.steps[0].state is State.FAILED


async def test_thread_tasks_run_steps_as_blocking_calls(
    registry: Registry, make_runner: RunnerFactory
) -> None:
    threads: list[int] = []

    async def on_the_loop() -> str:
        return "async"

    def in_this_thread() -> int:
        threads.append(threading.get_ident())
        return 3

    @registry.task(retries=1, backoff=0.01)
    def blocking() -> list[Any]:
        task = current_task()
        threads.append(threading.get_ident())
        first = task.step("first", in_this_thread)
        second = task.step("second", on_the_loop)
        if task.attempt == 1:
            raise RuntimeError("again")
        return [first, second]

    runner = await make_runner()
    done = await finished(runner, await runner.submit("blocking"))
    assert (done.state, done.result) == (State.SUCCEEDED, [3, "async"])
    assert threads[0] == threads[1]  # the step ran in the task's own thread
    assert len(threads) == 3  # twice the task, once the step
    assert threading.get_ident() not in threads


async def test_children_name_their_parent_and_their_results_come_back_in_order(
    registry: Registry, make_runner: RunnerFactory
) -> None:
    runner: Runner

    @registry.task()
    async def square(n: int) -> int:
        await asyncio.sleep(0.001 * (10 - n))  # the last submitted ends first
        return n * n

    @registry.task()
    async def total() -> dict[str, Any]:
        task = current_task()
        children = [await runner.submit("square", {"n": n}) for n in range(10)]
        first = await task.result(children[3])
        squares = await task.wait_all(children)
        return {"first": first, "squares": squares}

    runner = await make_runner(max_running=4)
    done = await finished(runner, await runner.submit("total"))
    assert done.state is State.SUCCEEDED
    assert done.result == {"first": 9, "squares": [n * n for n in range(10)]}
    assert len(done.children) == 10
    assert done.parent is None
    for position, child_id in enumerate(done.children):
        child = await runner.get(child_id)
        assert child.parent == done.id
        assert child.kwargs == {"n": position}
        assert child.idempotency_key == f"{done.id}/{position}"


async def test_a_rerun_gets_the_same_children_back(
    registry: Registry, make_runner: RunnerFactory
) -> None:
    runs: list[int] = []
    runner: Runner

    @registry.task()
    async def leaf(n: int) -> int:
        runs.append(n)
        return n

    @registry.task(retries=1, backoff=0.01)
    async def tree() -> int:
        task = current_task()
        children = [await runner.submit("leaf", {"n": n}) for n in range(3)]
        values: list[int] = await task.wait_all(children)
        if task.attempt == 1:
            raise RuntimeError("again")
        return sum(values)

    runner = await make_runner()
    done = await finished(runner, await runner.submit("tree"))
    assert (done.state, done.result, done.attempts) == (State.SUCCEEDED, 3, 2)
    assert sorted(runs) == [0, 1, 2]  # each child ran once
    assert len(done.children) == 3


async def test_eight_parents_waiting_for_children_on_two_slots_all_finish(
    registry: Registry, make_runner: RunnerFactory
) -> None:
    running_now = 0
    most = 0
    runner: Runner

    @registry.task()
    async def part(n: int) -> int:
        nonlocal running_now, most
        running_now += 1
        most = max(most, running_now)
        await asyncio.sleep(0)
        running_now -= 1
        return n

    @registry.task()
    async def whole(base: int) -> int:
        children = [await runner.submit("part", {"n": base + n}) for n in range(10)]
        values: list[int] = await current_task().wait_all(children)
        return sum(values)

    runner = await make_runner(max_running=2)
    parents = [await runner.submit("whole", {"base": 100 * p}) for p in range(8)]
    results = [(await finished(runner, parent)).result for parent in parents]
    assert results == [1000 * p + 45 for p in range(8)]
    assert most <= 2


async def test_a_failed_child_raises_in_its_parent_which_may_catch_it(
    registry: Registry, make_runner: RunnerFactory
) -> None:
    runner: Runner

    @registry.task()
    async def breaks() -> None:
        raise ValueError("no such address")

    @registry.task()
    async def careful() -> str:
        child = await runner.submit("breaks")
        try:
            await current_task().result(child)
        except ChildFailed as exc:
            error = exc.record.error
            return f"{exc.record.state.value}: {error.message if error else None}"
        return "not raised"

    @registry.task()
    async def careless() -> None:
        await current_task().wait_all([await runner.submit("breaks")])

    runner = await make_runner()
    done = await finished(runner, await runner.submit("careful"))
    assert done.result == "failed: no such address"
    failed = await finished(runner, await runner.submit("careless"))
    assert failed.state is State.FAILED
    assert failed.error is not None
    assert failed.error.type == "ChildFailed"


async def test_cancelling_a_waiting_parent_cancels_its_unfinished_children(
    registry: Registry, make_runner: RunnerFactory
) -> None:
    runner: Runner
    started = asyncio.Event()
    begun: list[str] = []

    @registry.task()
    async def quick() -> int:
        return 1

    @registry.task()
    async def forever() -> None:
        begun.append(current_task().id)
        if len(begun) == 2:  # both run: the waiting parent gave its slot back
            started.set()
        await asyncio.Event().wait()

    @registry.task()
    async def parent() -> None:
        task = current_task()
        await task.result(await runner.submit("quick"))
        await task.wait_all([await runner.submit("forever"), await runner.submit("forever")])

    runner = await make_runner(max_running=2)
    record = await runner.submit("parent")
    async with asyncio.timeout(WAIT):
        await started.wait()
    cancelled = await runner.cancel(record.id)
    assert cancelled.state is State.CANCELLED
    children = [await finished(runner, await runner.get(i)) for i in cancelled.children]
    assert [child.state for child in children] == [
        State.SUCCEEDED,
        State.CANCELLED,
        State.CANCELLED,
    ]


async def test_a_submission_after_the_run_ended_is_not_a_child(
    registry: Registry, make_runner: RunnerFactory
) -> None:
    later: list[asyncio.Task[TaskRecord]] = []
    gate = asyncio.Event()
    runner: Runner

    @registry.task()
    async def noop() -> None:
        return None

    @registry.task()
    async def spawner() -> None:
        async def submit_later() -> TaskRecord:
            await gate.wait()
            return await runner.submit("noop")

        later.append(asyncio.get_running_loop().create_task(submit_later()))

    runner = await make_runner()
    done = await finished(runner, await runner.submit("spawner"))
    gate.set()
    orphan = await later[0]
    assert orphan.parent is None
    assert (await runner.get(done.id)).children == ()


async def test_run_task_keeps_steps_in_memory() -> None:
    registry = Registry()
    calls: list[str] = []

    @registry.task()
    async def twice() -> str:
        first: str = await current_task().step("a", lambda: calls.append("a") or "A")
        return first

    run = await run_task(twice)
    assert (run.result, calls) == ("A", ["a"])


def test_step_digests_compare_arguments_by_value_and_opaque_ones_by_type() -> None:
    from tasks.steps import digest

    class Client:
        pass

    assert digest((1, {"b": 2, "a": [3]}), {}) == digest((1, {"a": [3], "b": 2}), {})
    assert digest((1,), {}) != digest((2,), {})
    assert digest((Client(),), {"to": "x"}) == digest((Client(),), {"to": "x"})
    assert digest((Client(),), {}) != digest((object(),), {})


async def test_a_cancel_the_store_refuses_leaves_the_parent_and_its_children_running(
    registry: Registry,
) -> None:
    class Refusing(MemoryStore):
        refuse = True

        async def request_cancel(self, task_id: str) -> TaskRecord | None:
            if self.refuse:
                raise StoreUnavailable("the disk is gone")
            return await super().request_cancel(task_id)

    started = asyncio.Event()
    runner = Runner(registry, store := Refusing(), poll_interval=0.05, lease=5.0)

    @registry.task()
    async def forever() -> None:
        started.set()
        await asyncio.Event().wait()

    @registry.task()
    async def parent() -> None:
        await current_task().result(await runner.submit("forever"))

    @registry.task()
    async def probe() -> None:
        return None

    await runner.start()
    try:
        record = await runner.submit("parent")
        async with asyncio.timeout(WAIT):
            await started.wait()
        with pytest.raises(StoreUnavailable):
            await runner.cancel(record.id)
        # a whole task runs meanwhile: a cancel sent to the parent would have ended it by now
        await finished(runner, await runner.submit("probe"))
        record = await runner.get(record.id)
        (child,) = await runner.records.query(name="forever")
        assert child.parent == record.id
        assert (record.state, child.state) == (State.RUNNING, State.RUNNING)
        store.refuse = False
        await runner.cancel(record.id)
        assert (await finished(runner, child)).state is State.CANCELLED
        assert (await finished(runner, record)).state is State.CANCELLED
    finally:
        await runner.close()
