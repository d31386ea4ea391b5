"""Writing the records a runner holds, announcing every write, and waiting for their ends.

A write goes to the store only while this runner holds the task (the store checks the
owner), so a task that was taken over or ended elsewhere is never overwritten. Listeners
(event streams, metrics, waits) hear of each record once it has committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from functools import partial
from typing import Any, Protocol, runtime_checkable

from ..errors import TaskNotFound
from ..records import TaskRecord
from ..store import Store

__all__ = ["Listener", "QueuesWrites", "RecordWriter"]

log = logging.getLogger("tasks")

Listener = Callable[[TaskRecord], None]


@runtime_checkable
class QueuesWrites(Protocol):
    """A store that can queue writes without a coroutine, committing them in call order."""

    def create_soon(
        self, record: TaskRecord, *, owner: str | None, lease: float
    ) -> asyncio.Future[TaskRecord | None]: ...

    def update_soon(self, record: TaskRecord, *, owner: str) -> asyncio.Future[bool]: ...


class RecordWriter:
    """Writes records as ``owner`` and tells listeners of each committed write."""

    def __init__(self, store: Store, owner: str, lease: float) -> None:
        self.store = store
        self.owner = owner
        self.lease = lease
        self._queues_writes = store if isinstance(store, QueuesWrites) else None
        self._listeners: list[Listener] = []
        self._pending = 0  # queued writes not yet committed
        self._flushed = asyncio.Event()
        self._flushed.set()

    @property
    def pending(self) -> int:
        """Writes queued with :meth:`write_soon` that have not committed yet."""
        return self._pending

    async def flushed(self) -> None:
        """Wait until every queued write has committed (or failed)."""
        await self._flushed.wait()

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` with every record written; returns an unsubscribe."""
        self._listeners.append(listener)
        return partial(self._listeners.remove, listener)

    def create(self, record: TaskRecord) -> asyncio.Future[Any]:
        """Store a new record, held by ``record.owner``; resolves once it has committed, to
        None, or to the existing record that has the same idempotency key (nothing stored)."""
        if self._queues_writes is not None:
            return self._queues_writes.create_soon(record, owner=record.owner, lease=self.lease)
        return asyncio.ensure_future(
            self.store.create(record, owner=record.owner, lease=self.lease)
        )

    async def write(self, record: TaskRecord) -> bool:
        """Write a record this runner holds; False (and a warning) if it no longer holds it."""
        if record.owner != self.owner:
            record = record.replace(owner=self.owner)
        if not await self.store.update(record, owner=self.owner):
            log.warning("task %s is no longer held by this runner; write dropped", record.id)
            return False
        self.notify(record)
        return True

    async def write_soon(self, record: TaskRecord) -> bool:
        """Write like :meth:`write`, without waiting for the commit if the store can queue it.

        Listeners hear of the record once it has committed. True unless a store that cannot
        queue writes says that this runner no longer holds the task.
        """
        if self._queues_writes is None:
            return await self.write(record)
        if record.owner != self.owner:
            record = record.replace(owner=self.owner)
        future = self._queues_writes.update_soon(record, owner=self.owner)
        self._pending += 1
        self._flushed.clear()
        future.add_done_callback(partial(self._written, record))
        return True

    def _written(self, record: TaskRecord, future: asyncio.Future[bool]) -> None:
        self._pending -= 1
        if not self._pending:
            self._flushed.set()
        if future.cancelled():
            return
        if (error := future.exception()) is not None:
            log.error("task %s: its %s state was not stored: %s", record.id, record.state, error)
        elif future.result():
            self.notify(record)
        else:
            log.warning("task %s is no longer held by this runner; write dropped", record.id)

    async def get(self, task_id: str) -> TaskRecord:
        """The task's stored record; :class:`~tasks.TaskNotFound` if there is none."""
        record = await self.store.get(task_id)
        if record is None:
            raise TaskNotFound(f"no task has the id {task_id!r}")
        return record

    async def ended(self, task_id: str, *, poll_interval: float) -> TaskRecord:
        """Wait until the task has ended and return its final record.

        Writes announced here wake the wait at once; the store is also read every
        ``poll_interval`` seconds, for tasks that another process writes.
        """
        changed = asyncio.Event()

        def on_write(record: TaskRecord) -> None:
            if record.id == task_id:
                changed.set()

        unsubscribe = self.subscribe(on_write)
        try:
            while True:
                changed.clear()
                record = await self.get(task_id)
                if record.state.terminal:
                    return record
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(poll_interval):
                        await changed.wait()
        finally:
            unsubscribe()

    def notify(self, record: TaskRecord) -> None:
        """Tell every listener of a committed write."""
        for listener in list(self._listeners):
            try:
                listener(record)
            except Exception:
                log.exception("a task listener failed on %s", record.id)
