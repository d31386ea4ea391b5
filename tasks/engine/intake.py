"""Taking in submissions: storing each new record apart from its caller, then dispatching it.

A submission's insert runs apart from the request that asked for it, which awaits it only
through a shield: a client that goes away cancels the request during the insert, which
commits anyway, and a record that is stored must also be dispatched. Until its insert has
answered, a submission counts against the waiting queue (``reserved``), and its id is "in
flight": the runner may hold it without its slots knowing yet.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

from ..definition import TaskDefinition
from ..errors import StoreUnavailable
from ..idempotency import Submitted, replay
from ..options import SubmitOptions
from ..records import State, TaskRecord
from .dispatch import Dispatch
from .store_health import StoreHealth
from .writer import RecordWriter

__all__ = ["Intake", "new_record"]


def new_record(
    definition: TaskDefinition, arguments: dict[str, Any], options: SubmitOptions
) -> TaskRecord:
    """The record of a submission of checked ``arguments``: ``scheduled`` if ``options`` ask
    for a moment still to come, else ``queued``; held by nobody yet."""
    retries = definition.retries.retries if options.retries is None else options.retries
    record = TaskRecord.new(
        definition.name,
        arguments,
        max_attempts=1 + retries,
        timeout=definition.timeout if options.timeout is None else options.timeout,
    )
    due = options.run_at(record.created_at)
    later = due is not None and due > record.created_at
    return record.replace(
        state=State.SCHEDULED if later else State.QUEUED,
        run_at=due,
        idempotency_key=options.key,
        queue=definition.queue,
        priority=definition.priority if options.priority is None else options.priority,
    )


class Intake:
    """Stores new records through ``writer`` and hands each stored one to ``dispatch``."""

    def __init__(self, writer: RecordWriter, dispatch: Dispatch, health: StoreHealth) -> None:
        self._writer = writer
        self._dispatch = dispatch
        self._health = health
        self._storing: dict[asyncio.Future[Any], str] = {}  # each insert, and its task's id
        #: submissions between the queue check and their dispatch
        self.reserved = 0

    async def accept(self, record: TaskRecord, *, enqueue: bool) -> Submitted:
        """Store ``record`` (dispatching it if ``enqueue``) and wait until it is durable; a
        record that already has its idempotency key comes back instead, if it is a replay."""
        stored = self.store(record, enqueue=enqueue)  # apart from the caller
        existing = await asyncio.shield(stored)  # its callbacks, so the dispatch, have run by now
        if existing is not None:
            return replay(record.name, record.kwargs, existing)
        return Submitted(record)

    def store(self, record: TaskRecord, *, enqueue: bool) -> asyncio.Future[Any]:
        """Insert ``record``; dispatch it once stored if ``enqueue``. The future resolves to
        None, or to the record that already has its idempotency key (nothing stored)."""
        self.reserved += enqueue
        stored = self._writer.create(record)
        self._storing[stored] = record.id
        stored.add_done_callback(partial(self._stored, record, enqueue))
        return stored

    def in_flight(self) -> frozenset[str]:
        """The ids of the records being stored now."""
        return frozenset(self._storing.values())

    async def settled(self) -> None:
        """Wait until every insert under way has answered (and dispatched its record)."""
        await asyncio.gather(*self._storing, return_exceptions=True)

    def _stored(self, record: TaskRecord, enqueue: bool, stored: asyncio.Future[Any]) -> None:
        del self._storing[stored]
        self.reserved -= enqueue
        if stored.cancelled():
            return
        if (error := stored.exception()) is not None:
            if isinstance(error, StoreUnavailable):  # it may have committed: reconcile later
                self._health.failed(error)
            return  # the caller, if still there, gets the error
        if stored.result() is not None:
            return  # a replay; the caller, if still there, gets the existing record
        self._writer.notify(record)
        if enqueue:
            self._dispatch.send(record)
