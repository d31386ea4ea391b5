"""Cancelling a task wherever it is: running here, waiting here, or held by another process.

A running coroutine is cancelled at its next ``await``; a running thread is asked to stop
and stops when its code notices. A task held by another process is flagged in the store,
and its owner cancels it within one poll round (see ``recovery.maintain``).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from .errors import TaskAlreadyFinished
from .records import State, TaskRecord

if TYPE_CHECKING:
    from .runner import Runner

__all__ = ["cancel", "cancel_held", "cancel_here"]


async def cancel(runner: Runner, task_id: str) -> TaskRecord:
    """Cancel the task; wait up to ``runner.cancel_wait`` seconds for it to end."""
    record = await runner.get(task_id)
    if record.state.terminal:
        raise TaskAlreadyFinished(
            f"task {task_id} has already {record.state.value}; only queued or running "
            "tasks can be cancelled"
        )
    execution = runner._running.get(task_id)
    if execution is None and await cancel_held(runner, record):
        return await runner.get(task_id)
    if execution is not None:
        execution.cancel()
    else:
        flagged = await runner.store.request_cancel(task_id)
        if flagged is None or flagged.state.terminal:
            return flagged or record
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(runner.cancel_wait):
            return await runner.wait(task_id, poll_interval=min(0.1, runner.poll_interval))
    return await runner.get(task_id)


async def cancel_held(runner: Runner, record: TaskRecord) -> bool:
    """Cancel a task the runner holds but does not run yet; False if it holds no such task."""
    if record.id in runner._waiting:
        runner._waiting.remove(record.id)
        runner._queued.pop(record.id, None)
    elif (handle := runner._retries.pop(record.id, None)) is not None:
        handle.cancel()
    else:
        return False
    try:
        await runner.write(record.finished(State.CANCELLED))
    except BaseException:
        # Whether or not the write landed, the task is held here: queue it again by id, so
        # that it is read back from the store and run only if it is still queued.
        runner.enqueue(record.id)
        raise
    runner._check_idle()
    return True


async def cancel_here(runner: Runner, task_id: str) -> None:
    """Act on a cancellation that was requested through another process."""
    execution = runner._running.get(task_id)
    if execution is not None:
        execution.cancel()
        return
    record = await runner.store.get(task_id)
    if record is not None and not record.state.terminal:
        await cancel_held(runner, record)
