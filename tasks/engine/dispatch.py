"""Where a stored submission goes: this process's own slots, or a broker's workers.

A runner stores each task it accepts, then hands it to its :class:`Dispatch`. The default,
:class:`InProcess`, holds the task here and queues it for one of this process's slots
(which run through ``app.add_background_task``). A broker dispatch (:mod:`.broker`) stores
the task held by nobody and sends its id to a broker, whose worker processes take it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from ..records import TaskRecord

__all__ = ["Dispatch", "InProcess"]


@runtime_checkable
class Dispatch(Protocol):
    """How a runner hands on the tasks it has stored."""

    @property
    def holds(self) -> bool:
        """Whether the submitting runner holds (and runs) what it submits."""
        ...

    @property
    def claims_ahead(self) -> bool:
        """Whether a claiming round may take more than the free slots can start at once.

        False where a broker shares the work between workers: each claims only what it can
        start, and leaves the rest to the others.
        """
        ...

    @property
    def backlog(self) -> int:
        """Tasks waiting beyond this runner's own queue that count against its queue limit."""
        ...

    def send(self, record: TaskRecord) -> None:
        """Hand on a task whose record has just been stored; never raises."""

    async def start(self) -> None:
        """Acquire what sending needs (connections); called when the runner starts."""

    async def drain(self) -> None:
        """Finish the hand-offs under way; called when the runner stops accepting tasks."""

    async def close(self) -> None:
        """Release what :meth:`start` acquired."""


class InProcess:
    """Runs submissions here: each one is queued for a slot of this process."""

    holds = True
    claims_ahead = True
    backlog = 0

    def __init__(self, enqueue: Callable[[TaskRecord], None]) -> None:
        self._enqueue = enqueue

    def send(self, record: TaskRecord) -> None:
        self._enqueue(record)

    async def start(self) -> None:
        pass

    async def drain(self) -> None:
        pass

    async def close(self) -> None:
        pass
