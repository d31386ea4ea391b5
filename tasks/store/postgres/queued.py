"""Writes queued for the next transaction without a coroutine (the ``QueuesWrites`` capability).

The engine queues the writes of a task's life (its insert, start, progress and end) and goes
on; each commits with whatever else the next batch holds. An update of a task that is still
queued, not yet taken into a transaction, is replaced by a later one of the same task and
owner: a task that starts and ends before its start was sent costs one write. A terminal
record is never replaced: an update after it goes on its own, and is refused as it would be
once the terminal one has committed.
"""

from __future__ import annotations

import asyncio
from functools import partial

from ...records import TaskRecord
from .batches import Later, Sequence, WriteBatches
from .pool import Connection
from .rows import hold_lease, insert, replace

__all__ = ["QueuedWrites"]


class QueuedWrites:
    """Queues inserts and updates on ``batches``, in call order."""

    def __init__(self, batches: WriteBatches) -> None:
        self._batches = batches
        self._unsent: dict[str, _Update] = {}  # updates not yet taken into a transaction
        batches.on_batch = self._unsent.clear

    def create_soon(
        self, record: TaskRecord, *, owner: str | None, lease: float
    ) -> asyncio.Future[bool | TaskRecord]:
        """Queue an insert; resolves to True (stored), False (the id exists) or the record
        that already holds the idempotency key."""

        async def create(conn: Connection, sequence: Sequence) -> Later:
            if owner is not None:
                await hold_lease(conn, owner, lease)
            else:
                sequence.work = True  # for the workers, now or when due
            (seq,) = sequence.take()
            return await insert(conn, record, owner, seq)

        future: asyncio.Future[bool | TaskRecord] = self._batches.submit(create)
        return future

    def update_soon(self, record: TaskRecord, *, owner: str) -> asyncio.Future[bool]:
        pending = self._unsent.get(record.id)
        if pending is not None and pending.owner == owner and not pending.record.state.terminal:
            pending.record = record
            return pending.future
        pending = _Update(record, owner)
        pending.future = self._batches.submit(partial(_write, pending))
        self._unsent[record.id] = pending
        return pending.future


async def _write(pending: _Update, conn: Connection, sequence: Sequence) -> Later:
    (seq,) = sequence.take()
    return await replace(conn, seq, pending.record, pending.owner)


class _Update:
    __slots__ = ("future", "owner", "record")

    def __init__(self, record: TaskRecord, owner: str) -> None:
        self.record = record
        self.owner = owner
        self.future: asyncio.Future[bool]
