"""Writes queued for the next transaction without a coroutine (the ``QueuesWrites`` capability).

The engine queues the writes of a task's life (its insert, start, progress and end) and goes
on; each commits with whatever else the next batch holds. Consecutive inserts go out as one
statement, and so do consecutive updates, so that a batch costs a few statements whatever
its size; the order of the calls is kept. An update of a task that is still queued, not yet
taken into a transaction, is replaced by a later one of the same task and owner: a task
that starts and ends before its start was sent costs one write. A terminal record is never
replaced: an update after it goes on its own, and is refused as it would be once the
terminal one has committed.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ...errors import IdempotencyKeyInUse
from ...records import TaskRecord
from .batches import Later, OutcomeUnknown, Sequence, WriteBatches
from .rows import KeyInUse, hold_lease, insert_many, replace_many
from .session import Session

__all__ = ["QueuedWrites"]


class QueuedWrites:
    """Queues inserts and updates on ``batches``, in call order."""

    def __init__(self, batches: WriteBatches) -> None:
        self._batches = batches
        self._unsent: dict[str, _Update] = {}  # updates not yet taken into a transaction
        self._last: _Inserts | _Updates | None = None  # the last statement queued
        batches.on_batch = self._taken

    def _taken(self) -> None:
        self._unsent.clear()
        self._last = None

    def create_soon(
        self, record: TaskRecord, *, owner: str | None, lease: float
    ) -> asyncio.Future[TaskRecord | None]:
        """Queue an insert; resolves to None (stored) or the record that already holds the
        idempotency key, or raises ``ValueError`` if the id exists."""
        inserts = self._last
        if not isinstance(inserts, _Inserts) or record.id in inserts.ids:
            inserts = self._last = _Inserts()
            self._batches.submit(inserts.run).add_done_callback(inserts.settle)
        return inserts.add(record, owner, lease)

    def barrier(self, task_id: str) -> None:
        """A write of ``task_id`` goes out now, outside these queues: later updates of it
        queue after that write, rather than replace one queued before it."""
        if self._unsent.pop(task_id, None) is not None:
            self._last = None

    def update_soon(self, record: TaskRecord, *, owner: str) -> asyncio.Future[bool]:
        pending = self._unsent.get(record.id)
        if pending is not None and pending.owner == owner and not pending.record.state.terminal:
            pending.record = record
            return pending.future
        updates = self._last
        if not isinstance(updates, _Updates) or record.id in updates.ids:
            updates = self._last = _Updates()
            self._batches.submit(updates.run).add_done_callback(updates.settle)
        pending = updates.add(record, owner)
        self._unsent[record.id] = pending
        return pending.future


class _Inserts:
    """Consecutive inserts, sent as one statement."""

    def __init__(self) -> None:
        self.ids: set[str] = set()
        self._items: list[tuple[TaskRecord, str | None, asyncio.Future[TaskRecord | None]]] = []
        self._leases: dict[str, float] = {}

    def add(
        self, record: TaskRecord, owner: str | None, lease: float
    ) -> asyncio.Future[TaskRecord | None]:
        future: asyncio.Future[TaskRecord | None] = asyncio.get_running_loop().create_future()
        self.ids.add(record.id)
        self._items.append((record, owner, future))
        if owner is not None:
            self._leases[owner] = lease
        return future

    async def run(self, conn: Session, sequence: Sequence) -> Later:
        for owner, lease in self._leases.items():
            await hold_lease(conn, sequence, owner, lease)
        if any(owner is None for _, owner, _ in self._items):
            sequence.work = True  # for the workers, now or when due
        rows = [(record, owner) for record, owner, _ in self._items]
        return await insert_many(conn, rows, sequence)

    def settle(self, done: asyncio.Future[list[bool | TaskRecord | KeyInUse]]) -> None:
        """Each insert's outcome (outside the transaction, so that one taken id fails its
        own call, not the batch)."""
        lost = None if done.cancelled() else done.exception()
        for number, (record, _, future) in enumerate(self._items):
            if isinstance(lost, OutcomeUnknown) and not future.cancelled():
                future.set_exception(OutcomeUnknown(lost.reason, _maybe_stored(record)))
            elif not _failed(done, future):
                result = done.result()[number]
                if result is False:
                    future.set_exception(ValueError(f"a task with id {record.id!r} already exists"))
                elif isinstance(result, KeyInUse):
                    future.set_exception(_key_in_use(record))
                else:
                    future.set_result(None if result is True else result)


def _key_in_use(record: TaskRecord) -> IdempotencyKeyInUse:
    return IdempotencyKeyInUse(
        f"a transaction that has not ended yet submitted a task with the idempotency key "
        f"{record.idempotency_key!r}; retry once it has: its task then comes back if it "
        "committed, and this one is stored if it rolled back"
    )


def _maybe_stored(record: TaskRecord) -> str:
    """What a submission whose insert has an unknown outcome must be told."""
    stored = "the task may have been stored all the same (the answer was lost)"
    if record.idempotency_key is not None:
        return f"{stored}: retry with the same Idempotency-Key header, which starts it at most once"
    return (
        f"{stored}, so a retry may start it twice: submit with an Idempotency-Key header, "
        "and retry with the same one, to start a task at most once"
    )


class _Updates:
    """Consecutive updates of different tasks, sent as one statement."""

    def __init__(self) -> None:
        self.ids: set[str] = set()
        self._items: list[_Update] = []

    def add(self, record: TaskRecord, owner: str) -> _Update:
        pending = _Update(record, owner)
        self.ids.add(record.id)
        self._items.append(pending)
        return pending

    async def run(self, conn: Session, sequence: Sequence) -> Later:
        rows = [(pending.record, pending.owner) for pending in self._items]  # as now replaced
        return await replace_many(conn, rows, sequence)

    def settle(self, done: asyncio.Future[list[bool]]) -> None:
        for number, pending in enumerate(self._items):
            if not _failed(done, pending.future):
                pending.future.set_result(done.result()[number])


class _Update:
    __slots__ = ("future", "owner", "record")

    def __init__(self, record: TaskRecord, owner: str) -> None:
        self.record = record
        self.owner = owner
        self.future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()


def _failed(done: asyncio.Future[Any], future: asyncio.Future[Any]) -> bool:
    """Pass a statement's failure on to one of its calls; True if it failed (or the call
    was cancelled), False if the call's own outcome is still to be set."""
    if future.cancelled():
        return True
    if done.cancelled():
        future.cancel()
        return True
    if (error := done.exception()) is not None:
        future.set_exception(error)
        return True
    return False
