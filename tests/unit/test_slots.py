"""The running slots on their own: the limit holds while slots run tasks back to back."""

from __future__ import annotations

import asyncio

import pytest

from tasks.engine import slots as slots_module
from tasks.engine.execution import Execution
from tasks.engine.slots import Slots
from tasks.records import TaskRecord


async def test_a_slot_that_yields_between_tasks_keeps_the_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(slots_module, "SLOT_STEP", -1.0)  # every slot yields after each task
    loop = asyncio.get_running_loop()
    seen: list[int] = []
    more = iter(range(100, 140))

    async def execute(execution: Execution, record: TaskRecord | None) -> float | None:
        seen.append(slots.running)
        await asyncio.sleep(0)
        # A submission that arrives while the slot yields, after it let go of this task.
        if (number := next(more, None)) is not None:
            loop.call_soon(slots.enqueue, f"task-{number}")
        return None

    slots = Slots(execute, spawn=None, max_running=2)
    slots.open()
    for number in range(20):
        slots.enqueue(f"task-{number}")
    async with asyncio.timeout(10):
        await slots.idle()
    assert len(seen) == 60
    assert max(seen) <= 2


async def test_a_parked_task_gives_its_slot_back_and_resumes_before_waiting_ones() -> None:
    order: list[str] = []
    release = asyncio.Event()
    children_done = asyncio.Event()

    async def execute(execution: Execution, record: TaskRecord | None) -> float | None:
        task_id = execution.task_id
        if task_id == "parent":
            slots.park(task_id)
            await children_done.wait()
            await slots.resume(task_id)
            order.append("parent resumed")
            return None
        order.append(f"{task_id} began")
        if task_id == "child":
            children_done.set()  # the parent wants its slot back now, while this one runs
            await release.wait()
        return None

    slots = Slots(execute, spawn=None, max_running=1)
    slots.open()
    slots.enqueue("parent")
    parent_left = slots.settled("parent")  # as a broker worker's take() waits on it
    assert not parent_left.done()
    slots.enqueue("child")
    slots.enqueue("later")
    async with asyncio.timeout(10):
        while "child began" not in order:
            await asyncio.sleep(0)
        assert slots.running == 2  # the parent runs still, parked
        assert slots.active == 1
        assert parent_left.done()  # parked: its message need not wait for it
        release.set()
        await slots.idle()
    assert order == ["child began", "parent resumed", "later began"]
