"""Cancelling a task wherever it is: running here, waiting here, or held by another process.

A running coroutine is cancelled at its next ``await``; a running thread is asked to stop
and stops when its code notices. A task held by another process is flagged in the store,
and its owner cancels it within one poll round (see :mod:`.recovery`).

Cancelling a task cancels its unfinished children (and theirs) too: the store flags them
with the task itself, in one transaction; those held here are cancelled at once, the others
by their holders.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from ..errors import TaskAlreadyFinished, TaskNotFound
from ..records import State, TaskRecord
from ..store import Store
from .slots import Slots
from .writer import RecordWriter

__all__ = ["Cancellation", "WaitFor"]

#: Waits until a task has ended and returns its record (``Runner.wait``).
WaitFor = Callable[[str, float], Awaitable[TaskRecord]]


class Cancellation:
    """Cancels tasks held in ``slots`` directly, and others through the store."""

    def __init__(
        self,
        store: Store,
        slots: Slots,
        writer: RecordWriter,
        *,
        wait_for: WaitFor,
        cancel_wait: float,
        poll_interval: float,
    ) -> None:
        self.store = store
        self.slots = slots
        self.writer = writer
        self._wait_for = wait_for
        self.cancel_wait = cancel_wait
        self.poll_interval = poll_interval

    async def cancel(self, task_id: str) -> TaskRecord:
        """Cancel the task; wait up to ``cancel_wait`` seconds for it to end."""
        record = await self._get(task_id)
        if record.state.terminal:
            raise TaskAlreadyFinished(
                f"task {task_id} has already {record.state.value}; only queued or running "
                "tasks can be cancelled"
            )
        execution = self.slots.execution(task_id)
        if execution is not None or (record.children and self.slots.knows(task_id)):
            # A task that may have children is flagged in the store first, with its
            # descendants, in one transaction: a store that fails here (a 503) leaves the
            # task and its children as they were, not one cancelled without the others.
            await self.store.request_cancel(task_id)
        if execution is None and await self.cancel_held(record):
            await self._cancel_children_here(record.children)
            return await self._get(task_id)
        if execution is not None:
            execution.cancel()
            await self._cancel_children_here(execution.latest().children)
        else:
            flagged = await self.store.request_cancel(task_id)  # its children with it
            if flagged is None or flagged.state.terminal:
                return flagged or record
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.cancel_wait):
                return await self._wait_for(task_id, min(0.1, self.poll_interval))
        return await self._get(task_id)

    async def cancel_held(self, record: TaskRecord) -> bool:
        """Cancel a task held here that does not run yet; False if there is no such task."""
        if not self.slots.remove(record.id):
            return False
        try:  # once: a request waits for the answer, which is a 503 while the store fails
            await self.writer.write_once(record.finished(State.CANCELLED))
        except BaseException:
            # Whether or not the write landed, the task is held here: queue it again by id, so
            # that it is read back from the store and run only if it is still queued.
            self.slots.enqueue(record.id)
            raise
        self.slots.check_idle()
        return True

    async def _cancel_children_here(self, children: tuple[str, ...]) -> None:
        """Cancel at once the children held here (the store has flagged them, and theirs:
        the renewal would act on them within a poll interval)."""
        for child in children:
            if self.slots.knows(child):
                await self.cancel_here(child)

    async def cancel_here(self, task_id: str) -> None:
        """Act on a cancellation that was requested through another process."""
        execution = self.slots.execution(task_id)
        if execution is not None:
            execution.cancel()
            return
        record = await self.store.get(task_id)
        if record is not None and not record.state.terminal:
            await self.cancel_held(record)

    async def _get(self, task_id: str) -> TaskRecord:
        record = await self.store.get(task_id)
        if record is None:
            raise TaskNotFound(f"no task has the id {task_id!r}")
        return record
