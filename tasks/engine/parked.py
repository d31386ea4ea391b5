"""Running tasks that gave their slot back while they wait for other tasks (their children).

A parked task counts again once it resumes: at once if a slot is free, else it waits for the
first that frees, in the order the parked tasks asked, before any task that waits to start.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

__all__ = ["Parked"]


class Parked:
    """The parked tasks of one :class:`~.slots.Slots`, and those waiting to resume."""

    def __init__(self) -> None:
        self._ids: set[str] = set()
        self._resuming: deque[tuple[str, asyncio.Future[None]]] = deque()

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, task_id: object) -> bool:
        return task_id in self._ids

    @property
    def resuming(self) -> bool:
        """Whether a parked task waits for a slot to resume."""
        return bool(self._resuming)

    def add(self, task_id: str) -> None:
        self._ids.add(task_id)

    def discard(self, task_id: str) -> None:
        """Count ``task_id`` as holding its slot again (resumed, or ending)."""
        self._ids.discard(task_id)

    async def wait_turn(self, task_id: str) -> None:
        """Wait until :meth:`resume_first` resumes ``task_id``."""
        future = asyncio.get_running_loop().create_future()
        entry = (task_id, future)
        self._resuming.append(entry)
        try:
            await future
        except asyncio.CancelledError:
            with contextlib.suppress(ValueError):
                self._resuming.remove(entry)
            self._ids.discard(task_id)  # it ends now, a moment over the limit
            raise

    def resume_first(self) -> None:
        """Resume the parked task that has waited longest for a slot (a slot is free)."""
        task_id, future = self._resuming.popleft()
        self._ids.discard(task_id)
        if not future.done():
            future.set_result(None)
