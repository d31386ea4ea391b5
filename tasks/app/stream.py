"""Following the store's change log, for live views such as server-sent event streams.

A :class:`ChangeFeed` hands out :meth:`ChangeFeed.follow` iterators. Each read of the store
returns the latest write of every record changed after the follower's position, in the
order of their sequence numbers, and moves the position past them. What follows from that
(and from the stores numbering writes in commit order, and never rewriting a finished
record):

- a record's changes come in the order they were written, never an older write after a
  newer one;
- writes overwritten before the next read are skipped: a task that went ``queued`` then
  ``running`` between two reads is seen ``running`` only;
- the latest write is always read, so a terminal state comes exactly once, unless the
  record was deleted (by retention, or past the memory store's cap) before it was read.

The sequence numbers are the store's own, so a follower that resumes from the last one it
saw misses nothing: it gets the latest write of every record changed since.

Two things wake a follower. Writes made by this process's runner do so at once (through
``Runner.subscribe``). Writes made by other processes sharing the store are announced by
the store itself when it is a :class:`~tasks.store.ChangeNotifier` (PostgreSQL, through
``LISTEN/NOTIFY``); otherwise (several Hypercorn workers on one SQLite file) they are
noticed by a single ``store.last_seq()`` poll every ``poll_interval`` seconds, which runs
only while at least one follower exists.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Callable

from ..records import TaskRecord
from ..store import Change, ChangeNotifier, RecordReader

__all__ = ["ChangeFeed", "Subscribe"]

log = logging.getLogger("tasks")

#: Registers a listener for record writes and returns its unsubscribe, e.g. ``Runner.subscribe``.
Subscribe = Callable[[Callable[[TaskRecord], None]], Callable[[], None]]


class _Follower:
    __slots__ = ("task_id", "wake")

    def __init__(self, task_id: str | None) -> None:
        self.task_id = task_id
        self.wake = asyncio.Event()


class ChangeFeed:
    """Yields the store's changes to any number of followers, waking them as writes happen.

    ``records`` is the store to follow (``Runner.records``), ``subscribe`` what announces
    this process's writes (``Runner.subscribe``).

    ``idle_interval`` is how long a follower stays silent before it yields ``None`` (a cue
    to send a keep-alive); ``batch`` bounds how many changes one store read returns.
    """

    def __init__(
        self,
        records: RecordReader,
        subscribe: Subscribe | None = None,
        *,
        poll_interval: float = 0.5,
        idle_interval: float = 15.0,
        batch: int = 100,
    ) -> None:
        if poll_interval <= 0 or idle_interval <= 0 or batch < 1:
            raise ValueError("poll_interval and idle_interval must be above 0, batch at least 1")
        self.records = records
        self.poll_interval = poll_interval
        self.idle_interval = idle_interval
        self.batch = batch
        self._subscribe = subscribe
        self._unsubscribe: Callable[[], None] | None = None
        self._unwatch: Callable[[], None] | None = None
        self._followers: set[_Follower] = set()
        self._followed = asyncio.Event()
        self._poller: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def followers(self) -> int:
        """How many iterators from :meth:`follow` are open."""
        return len(self._followers)

    @property
    def closed(self) -> bool:
        return self._closed

    async def start(self) -> None:
        """Listen to local writes, and to other processes' writes (or start polling for them)."""
        if self._subscribe is not None:
            self._unsubscribe = self._subscribe(self._on_write)
        if isinstance(self.records, ChangeNotifier):
            self._unwatch = self.records.watch_changes(self._wake_all)
            return
        seen = await self.records.last_seq()
        self._poller = asyncio.get_running_loop().create_task(self._poll(seen))

    def stop(self) -> None:
        """End every follower at its next step; new ones end at once. Safe from callbacks."""
        self._closed = True
        self._wake_all()

    async def close(self) -> None:
        """Stop, then stop polling and listening. Safe to call twice."""
        self.stop()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._unwatch is not None:
            self._unwatch()
            self._unwatch = None
        poller, self._poller = self._poller, None
        if poller is not None:
            poller.cancel()
            await asyncio.gather(poller, return_exceptions=True)

    async def position(self, after: int | None = None) -> int:
        """Where to start following: ``after`` (capped at the latest write), or now."""
        latest = await self.records.last_seq()
        return latest if after is None else min(after, latest)

    async def last_change(self, task_id: str, after: int) -> Change | None:
        """The latest write of one task after ``after``, or None if it has not changed since
        (or there is no such task). One read of that record, not of the changes since."""
        change = await self.records.latest_change(task_id)
        return change if change is not None and change.seq > after else None

    async def follow(
        self, after: int, task_id: str | None = None
    ) -> AsyncGenerator[Change | None, None]:
        """Yield changes after ``after`` (of one task, if given) as they are read: each
        record's latest write at each read, oldest first (see the module's docstring).

        Yields ``None`` after ``idle_interval`` seconds without a change. Ends when the feed
        closes; close the iterator (``contextlib.aclosing``) to stop following earlier.
        """
        loop = asyncio.get_running_loop()
        follower = _Follower(task_id)
        self._followers.add(follower)
        self._followed.set()
        try:
            cursor = after
            quiet_since = loop.time()
            while not self._closed:
                follower.wake.clear()  # before reading, so a write during the read re-wakes
                while True:
                    changes = await self.records.changes(cursor, limit=self.batch)
                    for change in changes:
                        cursor = change.seq
                        if task_id is None or change.record.id == task_id:
                            yield change
                            quiet_since = loop.time()
                    if len(changes) < self.batch:
                        break
                if self._closed:
                    return
                remaining = quiet_since + self.idle_interval - loop.time()
                if remaining <= 0:
                    yield None
                    quiet_since = loop.time()
                    continue
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(remaining):
                        await follower.wake.wait()
        finally:
            self._followers.discard(follower)
            if not self._followers:
                self._followed.clear()

    def _on_write(self, record: TaskRecord) -> None:
        for follower in self._followers:
            if follower.task_id is None or follower.task_id == record.id:
                follower.wake.set()

    def _wake_all(self) -> None:
        for follower in self._followers:
            follower.wake.set()

    async def _poll(self, seen: int) -> None:
        while True:
            await self._followed.wait()  # no polling while nobody follows
            await asyncio.sleep(self.poll_interval)
            try:
                latest = await self.records.last_seq()
            except Exception:
                log.exception("reading the task store's latest change failed; retrying")
                continue
            if latest != seen:
                seen = latest
                self._wake_all()
