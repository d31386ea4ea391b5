"""The PostgreSQL store's paused queues: the ``quart_tasks_queues`` table, one row per queue
ever paused, and each pause or resume announced to every process on :data:`CHANNEL`.

Runners keep the paused queues in memory and read them again when :data:`CHANNEL` calls
(:class:`~tasks.store.AnnouncesPauses`), rather than read them before each start, which
would cost a round trip to the server per task.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from .batches import WORK_CHANNEL, Sequence, WriteBatches
from .listener import ChangeListener
from .session import Session

__all__ = ["CHANNEL", "PausedQueues"]

#: the ``LISTEN``/``NOTIFY`` channel that announces each pause and resume
CHANNEL = "quart_tasks_queues"

#: runs a read on a pooled connection: SQL and parameters in, rows out
Read = Callable[[str, tuple[Any, ...]], Awaitable[list[tuple[Any, ...]]]]


class PausedQueues:
    """Pauses and resumes written in the store's write batches, read on a pooled connection,
    and heard of from every process through a listening connection of their own."""

    def __init__(self, url: str, where: str, batches: WriteBatches, read: Read) -> None:
        self._batches = batches
        self._read = read
        self._listener = ChangeListener(url, where, CHANNEL)

    async def set(self, queue: str, paused: bool) -> None:
        await self._batches.run(partial(_set_paused, queue=queue, paused=paused))

    async def read(self) -> frozenset[str]:
        rows = await self._read("SELECT name FROM quart_tasks_queues WHERE paused", ())
        return frozenset(row[0] for row in rows)

    def watch(self, callback: Callable[[], None]) -> Callable[[], None]:
        return self._listener.watch(callback)

    async def close(self) -> None:
        await self._listener.close()


async def _set_paused(conn: Session, sequence: Sequence, *, queue: str, paused: bool) -> None:
    await conn.execute(
        "INSERT INTO quart_tasks_queues (name, paused) VALUES (%s, %s) "
        "ON CONFLICT (name) DO UPDATE SET paused = excluded.paused",
        (queue, paused),
    )
    await conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, queue))  # sent at commit
    if not paused:  # its tasks are free to claim again: wake the workers that follow the store
        await conn.execute("SELECT pg_notify(%s, '')", (WORK_CHANNEL,))
