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
    ) -> asyncio.Future[TaskRecord | None]:
        """Queue an insert; resolves to None (stored) or the record that already holds the
        idempotency key, or raises ``ValueError`` if the id exists."""

        async def create(conn: Connection, sequence: Sequence) -> Later:
            if owner is not None:
                await hold_lease(conn, owner, lease)
            else:
                sequence.work = True  # for the workers, now or when due
            (seq,) = sequence.take()
            return await insert(conn, record, owner, seq)

        inserted: asyncio.Future[bool | TaskRecord] = self._batches.submit(create)
        outcome: asyncio.Future[TaskRecord | None] = asyncio.get_running_loop().create_future()
        inserted.add_done_callback(partial(_settle_insert, record, outcome))
        return outcome

    def update_soon(self, record: TaskRecord, *, owner: str) -> asyncio.Future[bool]:
        pending = self._unsent.get(record.id)
        if pending is not None and pending.owner == owner and not pending.record.state.terminal:
            pending.record = record
            return pending.future
        pending = _Update(record, owner)
        pending.future = self._batches.submit(partial(_write, pending))
        self._unsent[record.id] = pending
        return pending.future


def _settle_insert(
    record: TaskRecord,
    outcome: asyncio.Future[TaskRecord | None],
    inserted: asyncio.Future[bool | TaskRecord],
) -> None:
    """The insert's outcome as the store reports it (outside the transaction, so that one
    taken id fails its own call, not the batch)."""
    if outcome.cancelled():
        return
    if inserted.cancelled():
        outcome.cancel()
    elif (error := inserted.exception()) is not None:
        outcome.set_exception(error)
    elif (result := inserted.result()) is False:
        outcome.set_exception(ValueError(f"a task with id {record.id!r} already exists"))
    else:
        outcome.set_result(None if result is True else result)


async def _write(pending: _Update, conn: Connection, sequence: Sequence) -> Later:
    (seq,) = sequence.take()
    return await replace(conn, seq, pending.record, pending.owner)


class _Update:
    __slots__ = ("future", "owner", "record")

    def __init__(self, record: TaskRecord, owner: str) -> None:
        self.record = record
        self.owner = owner
        self.future: asyncio.Future[bool]
