"""The paused queues of :class:`~tasks.store.MemoryStore`: a set, seen by its runners only."""

from __future__ import annotations

__all__ = ["PausedInMemory"]


class PausedInMemory:
    """:meth:`~tasks.store.Store.set_paused` and ``paused_queues`` on a frozen set."""

    _paused: frozenset[str] = frozenset()  # replaced, never changed: each store has its own

    async def set_paused(self, queue: str, paused: bool) -> None:
        self._paused = self._paused | {queue} if paused else self._paused - {queue}

    async def paused_queues(self) -> frozenset[str]:
        return self._paused
