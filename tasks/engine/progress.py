"""Throttled progress writes: at most one per task per interval, never out of order."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from ..records import TaskRecord
from .execution import Execution

__all__ = ["ProgressWriter"]


class ProgressWriter:
    """Collects progress reports and writes the latest of each task every ``interval`` seconds.

    A report only marks its task; the write happens later on the event loop, through the
    same ``write`` the runner uses for state changes. Because the record to write is taken
    from the execution at that moment, a state change that happened in between is never
    overwritten by older progress.
    """

    def __init__(self, write: Callable[[TaskRecord], Awaitable[bool]], interval: float) -> None:
        self._write = write
        self.interval = interval
        self._dirty: set[Execution] = set()
        self._due = asyncio.Event()

    def report(self, execution: Execution) -> None:
        self._dirty.add(execution)
        self._due.set()

    def forget(self, execution: Execution) -> None:
        self._dirty.discard(execution)

    async def run(self) -> None:
        """Write reports as they come, pausing ``interval`` after each round."""
        while True:
            await self._due.wait()
            await self.flush()
            await asyncio.sleep(self.interval)

    async def flush(self) -> None:
        self._due.clear()
        dirty, self._dirty = self._dirty, set()
        for execution in dirty:
            record = execution.with_progress()
            if record is not None:
                await self._write(record)
