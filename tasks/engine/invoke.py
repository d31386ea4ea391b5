"""Calling a task's function: a coroutine on the event loop, a plain function in a thread.

A thread cannot be stopped from outside. A thread task that is cancelled (by a request, a
timeout or shutdown) is asked to stop through its context. On a cancel or a timeout its slot
waits until the code notices and returns; at shutdown the thread is left to finish, and the
task stays held until this process exits, so that no two runs of one task overlap.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ..context import TaskContext
from ..definition import TaskDefinition
from .execution import Execution

__all__ = ["invoke"]

log = logging.getLogger("tasks")


async def invoke(
    definition: TaskDefinition,
    kwargs: dict[str, Any],
    context: TaskContext,
    execution: Execution,
    timeout: asyncio.Timeout | None,
) -> Any:
    """The function's return value, for the attempt of ``execution`` under ``timeout``."""
    if definition.is_async:
        return await definition.func(**kwargs)
    job = asyncio.ensure_future(asyncio.to_thread(definition.func, **kwargs))
    execution.thread_job = job
    try:
        return await asyncio.shield(job)
    except asyncio.CancelledError:
        context.request_stop()
        if execution.cancel_sent or (timeout is not None and timeout.expired()):
            # A thread cannot be killed: keep the slot until the code notices and returns.
            await asyncio.wait([job])
        else:
            job.add_done_callback(_retrieve)
            log.warning(
                "task %s (%s): its thread is still busy; it was asked to stop",
                context.name,
                context.id,
            )
        _retrieve(job)
        raise


def _retrieve(job: asyncio.Future[Any]) -> None:
    if job.done() and not job.cancelled():
        job.exception()  # mark it retrieved: the outcome is the cancellation
