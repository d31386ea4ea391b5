"""Where a stored submission goes: this process's own slots, or a broker's workers.

A runner stores each task it accepts, then hands it to its :class:`Dispatch`. The default,
:class:`InProcess`, queues the task (held by this runner) for one of this process's slots
(which run through ``app.add_background_task``). A broker dispatch (:mod:`.broker`) sends
the id of a task stored held by nobody to a broker, whose worker processes take it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from ..records import TaskRecord

__all__ = ["Dispatch", "InProcess"]


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

    async def start(self) -> None:
        pass

    async def drain(self) -> None:
        pass

    async def close(self) -> None:
        pass
