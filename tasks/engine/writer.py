"""Writing the records a runner holds, announcing every write, and waiting for their ends.

A write goes to the store only while this runner holds the task (the store checks the
owner), so a task that was taken over or ended elsewhere is never overwritten. A write the
store refuses because it fails is written again until it lands (``resend.py``). Listeners
(event streams, metrics, waits) hear of each record once it has committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from functools import partial
from typing import Any

from ..errors import StoreUnavailable, TaskNotFound
from ..limits import Admission, StartLimit
from ..records import TaskRecord
from ..store import QueuesWrites, Store
from .resend import Resend
from .store_health import StoreHealth

__all__ = ["Listener", "RecordWriter"]

log = logging.getLogger("tasks")

Listener = Callable[[TaskRecord], None]

#: seconds between two tries of a limited start while the store fails
ADMISSION_RETRY = 0.5


class RecordWriter:
    """Writes records as ``owner`` and tells listeners of each committed write."""

    def __init__(self, store: Store, owner: str, lease: float, health: StoreHealth) -> None:
        self.store = store
        self.owner = owner
        self.lease = lease
        self.health = health
        self._resend = Resend(self._update, settled=self._settled, failed=health.failed)
        self._queues_writes = store if isinstance(store, QueuesWrites) else None
        self._listeners: list[Listener] = []
        self._pending = 0  # queued writes not yet committed
        self._flushed = asyncio.Event()
        self._flushed.set()

    @property
    def pending(self) -> int:
        """Writes queued with :meth:`write_soon`, or waiting to be written again, that have
        not committed yet."""
        return self._pending + len(self._resend)

    @property
    def unsettled(self) -> frozenset[str]:
        """Tasks with a write that the store refused, still to be written again."""
        return self._resend.ids()

    async def flushed(self) -> None:
        """Wait until every queued write has committed (or was refused for good)."""
        await self._flushed.wait()

    async def close(self) -> None:
        """Stop writing again what the store refused."""
        await self._resend.close()

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
        """Write a record this runner holds; False (and a warning) if it no longer holds it.

        While the store fails, this waits until the write lands.
        """
        record = self._owned(record)
        if record.id in self._resend:  # behind a write still to land: keep the order
            return await self._write_again(record)
        try:
            return await self._write_now(record)
        except StoreUnavailable:
            return await self._write_again(record)

    async def write_once(self, record: TaskRecord) -> bool:
        """:meth:`write`, for a caller that answers a request: a store failure is raised
        (:class:`~tasks.errors.StoreUnavailable`, a ``503``) instead of waited out."""
        record = self._owned(record)
        if record.id in self._resend:
            raise StoreUnavailable(f"task {record.id} waits for the task store; retry shortly")
        return await self._write_now(record)

    async def start_limited(self, record: TaskRecord, limit: StartLimit) -> Admission:
        """Write the start ``record`` if the store admits it under ``limit``.

        While the store fails this waits and asks again, as :meth:`write` does: a start whose
        answer was lost is admitted again (the store sees it committed).
        """
        record = self._owned(record)
        while True:
            if record.id not in self._resend:
                try:
                    admission = await self.store.start_limited(
                        record, owner=self.owner, lease=self.lease, limit=limit
                    )
                except StoreUnavailable as exc:
                    self.health.failed(exc)
                else:
                    if admission.started:
                        self.notify(admission.record or record)
                    elif not admission.held:
                        log.warning("task %s is no longer held by this runner", record.id)
                    return admission
            await asyncio.sleep(ADMISSION_RETRY)

    def _owned(self, record: TaskRecord) -> TaskRecord:
        return record if record.owner == self.owner else record.replace(owner=self.owner)

    async def _write_now(self, record: TaskRecord) -> bool:
        try:
            held = await self._update(record)
        except StoreUnavailable as exc:
            self.health.failed(exc)
            raise
        if not held:
            log.warning("task %s is no longer held by this runner; write dropped", record.id)
            return False
        self.notify(record)
        return True

    async def _update(self, record: TaskRecord) -> bool:
        return await self.store.update(record, owner=self.owner)

    def _write_again(self, record: TaskRecord) -> asyncio.Future[bool]:
        """Hand ``record`` to the writes that wait for the store; resolves once it landed."""
        self._flushed.clear()
        return self._resend.add(record)

    def _settled(self, record: TaskRecord, held: bool) -> None:
        if held:
            self.notify(record)
        else:
            log.warning("task %s is no longer held by this runner; write dropped", record.id)
        self._check_flushed()

    async def write_soon(self, record: TaskRecord) -> bool:
        """Write like :meth:`write`, without waiting for the commit if the store can queue it.

        Listeners hear of the record once it has committed. True unless a store that cannot
        queue writes says that this runner no longer holds the task.
        """
        if self._queues_writes is None or record.id in self._resend:
            return await self.write(record)
        record = self._owned(record)
        future = self._queues_writes.update_soon(record, owner=self.owner)
        self._pending += 1
        self._flushed.clear()
        future.add_done_callback(partial(self._written, record))
        return True

    def _written(self, record: TaskRecord, future: asyncio.Future[bool]) -> None:
        self._pending -= 1
        if future.cancelled():
            self._check_flushed()
            return
        if isinstance(error := future.exception(), StoreUnavailable):
            self.health.failed(error)
            self._write_again(record)  # until it lands; then listeners hear of it
        elif error is not None:
            log.error("task %s: its %s state was not stored: %s", record.id, record.state, error)
        elif future.result():
            self.notify(record)
        else:
            log.warning("task %s is no longer held by this runner; write dropped", record.id)
        self._check_flushed()

    def _check_flushed(self) -> None:
        if not self.pending:
            self._flushed.set()

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
