"""Writes the store refused while it failed, written again until they land.

A write that meets :class:`~tasks.errors.StoreUnavailable` is never dropped: the runner
still holds its task, so forgetting the write would leave the task's row claimed by a live
owner that no longer drives it. Instead the latest record of each such task waits here and
is written again, after pauses that grow to :data:`MAX_PAUSE`, until the store takes it or
says that this runner no longer holds the task. Later writes of the same task come here too
while one waits, so that they land in order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from ..errors import StoreUnavailable
from ..records import TaskRecord

__all__ = ["FIRST_PAUSE", "MAX_PAUSE", "Resend"]

log = logging.getLogger("tasks")

#: seconds before the first new try, doubled after each failed round up to MAX_PAUSE
FIRST_PAUSE = 0.05
MAX_PAUSE = 1.0


class Resend:
    """Holds the latest unwritten record of each task and writes it again until it lands.

    ``update`` writes one record (False: this runner no longer holds the task); ``landed``
    is told of each record once it is settled, and whether it landed; ``failed`` of each
    store error met on the way.
    """

    def __init__(
        self,
        update: Callable[[TaskRecord], Awaitable[bool]],
        *,
        settled: Callable[[TaskRecord, bool], None],
        failed: Callable[[StoreUnavailable], None],
    ) -> None:
        self._update = update
        self._settled = settled
        self._failed = failed
        self._records: dict[str, TaskRecord] = {}
        self._waiters: dict[str, list[asyncio.Future[bool]]] = {}
        self._round: asyncio.Task[None] | None = None

    def __contains__(self, task_id: object) -> bool:
        return task_id in self._records

    def __len__(self) -> int:
        return len(self._records)

    def ids(self) -> frozenset[str]:
        """The tasks with a write still to land."""
        return frozenset(self._records)

    def add(self, record: TaskRecord) -> asyncio.Future[bool]:
        """Write ``record`` once the store takes it, in place of any older one of its task.

        The future resolves to whether it landed (False: the task is no longer held here).
        """
        future = asyncio.get_running_loop().create_future()
        self._records[record.id] = record
        self._waiters.setdefault(record.id, []).append(future)
        if self._round is None or self._round.done():
            self._round = asyncio.ensure_future(self._retry())
        return future

    async def close(self) -> None:
        """Stop trying; what has not landed stays as the store last had it."""
        round_, self._round = self._round, None
        if round_ is not None:
            round_.cancel()
            await asyncio.gather(round_, return_exceptions=True)
        if self._records:
            log.warning(
                "%d task records could not be written before shutdown; the next process "
                "recovers those tasks from what the store has",
                len(self._records),
            )

    async def _retry(self) -> None:
        pause = FIRST_PAUSE
        while self._records:
            await asyncio.sleep(pause)
            pause = FIRST_PAUSE if await self._write_all() else min(2 * pause, MAX_PAUSE)

    async def _write_all(self) -> bool:
        """Write each waiting record once; False if the store failed on the way."""
        for task_id, record in list(self._records.items()):
            try:
                held = await self._update(record)
            except StoreUnavailable as exc:
                self._failed(exc)
                return False
            if self._records.get(task_id) is not record:
                continue  # a newer write came while this one was on its way
            del self._records[task_id]
            self._settled(record, held)
            for waiter in self._waiters.pop(task_id, []):
                if not waiter.done():
                    waiter.set_result(held)
        return True
