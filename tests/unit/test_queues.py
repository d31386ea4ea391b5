"""Queues and priorities on one runner: what runs first, and who runs which queue."""

from __future__ import annotations

import asyncio

import pytest

from tasks import InvalidOptions, MemoryStore, Registry, Runner, State, TaskRecord
from tasks.engine.waiting import Waiting
from tests.harness import WAIT, RunnerFactory


async def ended(runner: Runner, record: TaskRecord) -> TaskRecord:
    async with asyncio.timeout(WAIT):
        return await runner.wait(record.id, poll_interval=0.02)


def test_waiting_tasks_leave_highest_priority_first_then_in_arrival_order() -> None:
    waiting = Waiting()
    for task_id, priority in (("a", 0), ("b", 5), ("c", 0), ("d", 5), ("e", -1), ("f", 9)):
        waiting.append(task_id, priority)
    waiting.remove("c")
    assert "d" in waiting
    assert "c" not in waiting
    assert list(waiting) == ["f", "b", "d", "a", "e"]
    assert [waiting.popleft() for _ in range(len(waiting))] == ["f", "b", "d", "a", "e"]
    assert not waiting


async def test_with_its_slot_busy_a_later_higher_priority_task_starts_first(
    registry: Registry, make_runner: RunnerFactory
) -> None:
    started: list[str] = []
    gate = asyncio.Event()

    @registry.task()
    async def block() -> None:
        await gate.wait()

    @registry.task(priority=-1)
    async def note(label: str) -> None:
        started.append(label)

    runner = await make_runner(max_running=1)
    blocker = await runner.submit("block")
    low = [await runner.submit("note", {"label": f"low-{n}"}) for n in range(3)]
    urgent = await runner.submit("note", {"label": "urgent"}, priority=10)
    default = await runner.submit("note", {"label": "default"}, priority=0)
    assert (low[0].priority, urgent.priority, default.priority) == (-1, 10, 0)
    gate.set()
    for record in (blocker, *low, urgent, default):
        await ended(runner, record)
    assert started == ["urgent", "default", "low-0", "low-1", "low-2"]


async def test_a_runner_runs_only_its_queues_and_stores_the_others_for_a_runner_that_does(
    registry: Registry, make_runner: RunnerFactory
) -> None:
    ran_by: dict[str, str] = {}

    @registry.task(queue="email")
    async def send(to: str) -> None:
        ran_by[to] = "email worker"

    @registry.task()
    async def report() -> None:
        ran_by["report"] = "default worker"

    store = MemoryStore()
    web = await make_runner(store, queues=["email"])
    record = await web.submit("report")
    assert (record.queue, record.owner) == ("default", None)  # stored for another runner
    mail = await web.submit("send", {"to": "a@example.com"})
    assert (await ended(web, mail)).state is State.SUCCEEDED
    assert (await web.get(record.id)).state is State.QUEUED  # nobody here runs it

    other = await make_runner(store, queues=["default"])
    assert (await ended(other, record)).state is State.SUCCEEDED
    assert ran_by == {"a@example.com": "email worker", "report": "default worker"}


def test_queue_names_and_priorities_are_checked_when_declared(registry: Registry) -> None:
    async def work() -> None:
        return None

    with pytest.raises(ValueError, match="queue name"):
        registry.task(queue="no spaces")(work)
    with pytest.raises(ValueError, match="priority must be a whole number from -1000 to 1000"):
        registry.task(priority=5000)(work)
    with pytest.raises(InvalidOptions, match="priority"):
        registry.task(work).options(priority=1.5)  # type: ignore[arg-type]
    assert registry.serving(["x"]).names == frozenset()
