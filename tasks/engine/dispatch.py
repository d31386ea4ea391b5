"""Where a stored submission goes: this process's own slots, or other processes' workers.

A runner stores each task it accepts, then hands it to its :class:`Dispatch`. The default,
:class:`InProcess`, queues the task (held by this runner) for one of this process's slots
(which run through ``app.add_background_task``). :class:`ForWorkers` leaves a task stored
held by nobody for the workers that take their tasks from the store; a broker dispatch
(:mod:`.broker`) also sends its id to a broker, whose workers take it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from ..records import TaskRecord
from ..store import RecordReader
from .backlog import Backlog

__all__ = ["Dispatch", "ForWorkers", "InProcess"]


@runtime_checkable
class Dispatch(Protocol):
    """How a runner hands on the tasks it has stored.

    Whether the runner holds what it submits, and how much it claims at once, is its role's
    to say (:mod:`tasks.app.role`), not the dispatch's.
    """

    @property
    def backlog(self) -> int:
        """Tasks waiting beyond this runner's own queue that count against its queue limit."""
        ...

    def send(self, record: TaskRecord) -> None:
        """Hand on a task whose record has just been stored; never raises."""

    def counted(self, record: TaskRecord) -> None:
        """Count in :attr:`backlog` a task stored for anyone without :meth:`send` (in a
        caller's transaction, whose commit announces it), until the backlog is read again;
        never hands it on. Safe from any thread."""

    async def start(self) -> None:
        """Acquire what sending needs (connections); called when the runner starts."""

    async def drain(self) -> None:
        """Finish the hand-offs under way; called when the runner stops accepting tasks."""

    async def close(self) -> None:
        """Release what :meth:`start` acquired."""


class InProcess:
    """Runs submissions here: each one is queued for a slot of this process."""

    backlog = 0

    def __init__(self, enqueue: Callable[[TaskRecord], None]) -> None:
        self._enqueue = enqueue

    def send(self, record: TaskRecord) -> None:
        self._enqueue(record)

    def counted(self, record: TaskRecord) -> None:
        pass  # not this runner's to run: whichever claims it first does

    async def start(self) -> None:
        pass

    async def drain(self) -> None:
        pass

    async def close(self) -> None:
        pass


class ForWorkers:
    """Leaves each submission in the store, held by nobody, for the workers that take their
    tasks from it (``tasks worker`` without a broker); they hear of it from the store."""

    def __init__(self, store: RecordReader, *, poll_interval: float) -> None:
        self._backlog = Backlog(store, poll_interval=poll_interval)

    @property
    def backlog(self) -> int:
        return self._backlog.count

    def send(self, record: TaskRecord) -> None:
        self._backlog.sent()

    def counted(self, record: TaskRecord) -> None:
        self._backlog.sent()

    async def start(self) -> None:
        self._backlog.start()

    async def drain(self) -> None:
        pass

    async def close(self) -> None:
        await self._backlog.close()
