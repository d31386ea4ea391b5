"""Workflows on every store: resuming past stored steps, fan-in on few slots, cancelling."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import pytest

from tasks import Registry, Runner, State, Step, Store, TaskRecord, current_task
from tasks.records import utcnow
from tasks.steps import digest
from tests.contract.test_recovery import DEAD_OWNER
from tests.harness import WAIT

RunnerFactory = Callable[..., Coroutine[Any, Any, Runner]]


class Workflows:
    """The tasks of these tests, and what their steps did."""

    def __init__(self) -> None:
        self.registry = Registry()
        self.ran: list[str] = []
        self.runner: Runner | None = None
        registry = self.registry

        def effect(name: str) -> str:
            self.ran.append(name)
            return name.upper()

        @registry.task(durable=True)
        async def ordered() -> list[str]:
            task = current_task()
            return [await task.step(name, effect, name) for name in ("one", "two", "three")]

        @registry.task()
        async def leaf(n: int) -> int:
            await asyncio.sleep(0)
            return n

        @registry.task()
        async def total(count: int) -> int:
            children = [await self.submit("leaf", {"n": n}) for n in range(count)]
            results: list[int] = await current_task().wait_all(children)
            return sum(results)

        @registry.task()
        async def forever() -> None:
            await asyncio.Event().wait()

        @registry.task()
        async def stuck(count: int) -> None:
            children = [await self.submit("forever") for _ in range(count)]
            await current_task().wait_all(children)

    async def submit(self, name: str, kwargs: dict[str, Any] | None = None) -> TaskRecord:
        assert self.runner is not None
        return await self.runner.submit(name, kwargs)


@pytest.fixture
def workflows() -> Workflows:
    return Workflows()


@pytest.fixture
async def make_runner(workflows: Workflows, store: Store) -> AsyncIterator[RunnerFactory]:
    runners: list[Runner] = []

    async def build(**options: Any) -> Runner:
        runner = Runner(workflows.registry, store, poll_interval=0.02, lease=5.0, **options)
        await runner.start()
        runners.append(runner)
        return runner

    yield build
    for runner in runners:
        await runner.close()


async def children_running(runner: Runner, parent: TaskRecord, count: int) -> bool:
    states = [(await runner.get(child)).state for child in parent.children]
    return states == [State.RUNNING] * count


async def ended(runner: Runner, task_id: str) -> TaskRecord:
    async with asyncio.timeout(WAIT):
        return await runner.wait(task_id, poll_interval=0.02)


async def test_a_durable_task_cut_short_resumes_past_its_succeeded_steps(
    store: Store, make_runner: RunnerFactory, workflows: Workflows
) -> None:
    # As a process killed in step "two" leaves it: running, "one" stored, "two" begun.
    began = utcnow()
    steps = (
        Step("one", State.SUCCEEDED, began, utcnow(), "ONE", None, digest(("one",), {})),
        Step("two", State.RUNNING, utcnow(), digest=digest(("two",), {})),
    )
    left = TaskRecord.new("ordered", {})
    await store.create(left, owner=DEAD_OWNER, lease=-1)
    await store.update(left.started().replace(steps=steps), owner=DEAD_OWNER)

    runner = await make_runner()
    done = await ended(runner, left.id)
    assert (done.state, done.result, done.attempts) == (State.SUCCEEDED, ["ONE", "TWO", "THREE"], 2)
    assert workflows.ran == ["two", "three"]  # "one" was not run again
    assert [(step.name, step.state) for step in done.steps] == [
        ("one", State.SUCCEEDED),
        ("two", State.SUCCEEDED),
        ("three", State.SUCCEEDED),
    ]
    assert done.steps[0].finished_at == steps[0].finished_at  # kept as stored


async def test_eight_parents_fan_out_and_in_on_two_slots(
    make_runner: RunnerFactory, workflows: Workflows
) -> None:
    runner = workflows.runner = await make_runner(max_running=2)
    parents = [await runner.submit("total", {"count": 10}) for _ in range(8)]
    for parent in parents:
        done = await ended(runner, parent.id)
        assert (done.state, done.result, len(done.children)) == (State.SUCCEEDED, 45, 10)
    child = await runner.get(done.children[9])
    assert (child.parent, child.result) == (done.id, 9)


async def test_a_cancel_through_another_runner_reaches_the_parent_and_its_children(
    make_runner: RunnerFactory, workflows: Workflows
) -> None:
    runner = workflows.runner = await make_runner(max_running=2)
    other = await make_runner(claim=False)
    parent = await runner.submit("stuck", {"count": 2})
    async with asyncio.timeout(WAIT):
        while not await children_running(runner, record := await runner.get(parent.id), 2):
            await asyncio.sleep(0.02)  # the children start in the runner's own slots
    await other.cancel(parent.id)
    assert (await ended(runner, parent.id)).state is State.CANCELLED
    for child in record.children:
        assert (await ended(runner, child)).state is State.CANCELLED
