"""The waiting count of a process whose tasks other processes run."""

from __future__ import annotations

import asyncio
import logging
import threading

from ..records import State
from ..store import RecordReader

__all__ = ["Backlog"]

log = logging.getLogger("tasks")

#: seconds :meth:`Backlog.close` waits for the counting loop to end
CLOSE_WAIT = 5.0


class Backlog:
    """The queued tasks in the store, counted every ``poll_interval`` seconds, plus the
    tasks handed on since that count: what a process that runs none of its submissions
    sees as waiting, and bounds with ``TASKS_MAX_QUEUED``.

    A count that overlaps submissions is off until the next one: a task handed on while it
    is under way, and committed before the store reads, is in both; one counted before it
    starts (in a caller's transaction) and committed after the store reads is in neither.
    """

    def __init__(self, store: RecordReader, *, poll_interval: float) -> None:
        self._store = store
        self._poll_interval = poll_interval
        self._queued = 0  # queued tasks in the store at the last count
        self._sent_since = 0  # tasks handed on since that count
        # a producer counts what it stores in a caller's transaction from the caller's thread
        self._lock = threading.Lock()
        self._counting: asyncio.Task[None] | None = None

    @property
    def count(self) -> int:
        return self._queued + self._sent_since

    def sent(self) -> None:
        """Count one more task handed on; from any thread."""
        with self._lock:
            self._sent_since += 1

    def start(self) -> None:
        self._counting = asyncio.get_running_loop().create_task(self._count())

    async def close(self) -> None:
        """Stop counting; a count the store's client will not let go of is left behind
        (within ``CLOSE_WAIT``), rather than holding up a shutdown."""
        if self._counting is not None:
            self._counting.cancel()
            await asyncio.wait([self._counting], timeout=CLOSE_WAIT)

    async def _count(self) -> None:
        while True:
            sent = self._sent_since
            try:
                queued = await self._store.count(State.QUEUED)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("counting the queued tasks failed: %s", exc)
            else:
                with self._lock:
                    self._queued = queued
                    self._sent_since -= sent  # those are in the count now
            await asyncio.sleep(self._poll_interval)
