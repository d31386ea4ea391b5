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
