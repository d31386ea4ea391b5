"""Paused queues, as one runner sees them: what it claims, and what it may start.

A queue paused in the store (:meth:`~tasks.store.Store.set_paused`, by any process) starts
no task until it is resumed: running tasks finish, submissions are stored and wait
``queued``. A runner keeps to it in two places:

- its claims leave out the tasks of paused queues (:attr:`Pauses.names`), which stay in the
  store held by nobody;
- right before a task starts, its queue is checked (:meth:`Pauses.holds_back`): a task of a
  paused queue is handed back to the store, queued and held by nobody, for whichever runner
  claims it once the queue is resumed.

The check before a start must not lag behind a pause made through another process: a task
submitted after the pause's answer must start nowhere. On a store that announces each pause
(:class:`~tasks.store.AnnouncesPauses`: PostgreSQL's ``LISTEN``/``NOTIFY``) the runner keeps
the paused queues in memory and reads them again once told; on any other store it reads them
before each start (SQLite reads its tiny table on the loop's own connection, without a thread
hop). Every upkeep round reads them as well, so that a lost announcement costs at most a poll
interval.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from ..errors import StoreUnavailable
from ..registry import Served
from ..store import AnnouncesPauses, Store

__all__ = ["Pauses"]

log = logging.getLogger("tasks")


class Pauses:
    """The paused queues as last read from ``store``, and what they keep ``served`` from
    running: claims take :attr:`names`, starts ask :meth:`holds_back`."""

    def __init__(self, store: Store, served: Served) -> None:
        self._store = store
        self._served = served
        self._paused: frozenset[str] = frozenset()
        # announcements heard, and how many of them the paused queues in memory reflect (a
        # read that began after the n-th): from memory only while the two are equal
        self._heard = 0
        self._read_after = -1
        self._listening = False  # the store calls once it listens: announcements reach us
        self._unwatch: Callable[[], None] | None = None
        self._names: frozenset[str] = frozenset()
        self._names_of: tuple[frozenset[str], frozenset[str]] | None = None
        #: called when a queue may have been resumed (the runner claims again at once)
        self.on_change: Callable[[], None] = lambda: None

    def start(self) -> None:
        """Follow the store's announcements, if it makes any."""
        if isinstance(self._store, AnnouncesPauses) and self._unwatch is None:
            self._unwatch = self._store.watch_pauses(self._announced_change)

    def stop(self) -> None:
        if self._unwatch is not None:
            self._unwatch()
            self._unwatch = None
        self._listening = False

    def _announced_change(self) -> None:
        self._heard += 1
        self._listening = True
        self.on_change()

    @property
    def paused(self) -> frozenset[str]:
        """The paused queues, as last read."""
        return self._paused

    @property
    def names(self) -> frozenset[str]:
        """The task names this runner claims: those it serves, but of no paused queue."""
        served = self._served.names
        if self._names_of != (served, self._paused):
            self._names_of = (served, self._paused)
            self._names = frozenset(
                name for name in served if self._served.registry.get(name).queue not in self._paused
            )
        return self._names

    async def refresh(self) -> frozenset[str]:
        """Read the paused queues from the store now; the last ones read if it fails (the
        start or claim that follows meets the same failure, and says so)."""
        heard = self._heard
        try:
            paused = await self._store.paused_queues()
        except StoreUnavailable as exc:
            log.debug("reading the paused queues failed: %s", exc)
            return self._paused
        if heard >= self._read_after:  # reads may end out of order: keep the latest begun
            self._paused, self._read_after = paused, heard
        return paused

    async def current(self) -> frozenset[str]:
        """The paused queues now: from memory while the store's announcements keep it
        right (from its first call on: it then listens), else read from the store."""
        if self._listening and self._read_after == self._heard:
            return self._paused
        return await self.refresh()

    async def holds_back(self, name: str) -> bool:
        """Whether a task of ``name`` must not start now: its queue is paused."""
        paused = await self.current()
        if not paused or name not in self._served.registry:
            return False  # a name it does not have is handed back as unknown, elsewhere
        return self._served.registry.get(name).queue in paused

    async def pause(self, queue: str) -> None:
        """Pause ``queue`` in the store, for every process; ``UnknownQueue`` if no task
        waits in it. Its running tasks finish; none of its tasks starts from now on."""
        self._served.registry.in_queue(queue)
        await self._store.set_paused(queue, True)
        self._changed_here(self._paused | {queue})

    async def resume(self, queue: str) -> None:
        """Resume ``queue`` in the store, for every process; this runner claims its waiting
        tasks at once, the others at their next claim."""
        self._served.registry.in_queue(queue)
        await self._store.set_paused(queue, False)
        self._changed_here(self._paused - {queue})
        self.on_change()

    def _changed_here(self, paused: frozenset[str]) -> None:
        """Known at once here, as if announced and read: a read that began before it is
        dropped rather than undo it."""
        self._heard += 1
        self._paused, self._read_after = paused, self._heard
