"""Workers without a broker: taking tasks from the store as soon as it changes.

A worker that shares a store with web processes (``TASKS_RUN_TASKS = false``, or other
workers) finds its work there. On a store that announces tasks left free to claim
(PostgreSQL's ``LISTEN``/``NOTIFY``: :class:`~tasks.store.AnnouncesWork`, else every change:
:class:`~tasks.store.ChangeNotifier`), each announcement wakes the runner, which claims what
its free slots can start and one batch more (``FOR UPDATE SKIP LOCKED`` keeps two workers
off one task); several that arrive during a claim wake one more, not one each. While its
last claim took all it could (more may wait), each task it ends wakes it too. Without
announcements (SQLite, one machine) the store is looked at every ``poll`` seconds instead.

Each wake also reads the earliest ``run_at`` of the delayed tasks (at most every
:data:`DUE_READ_EVERY` seconds), so that the delay alarm takes a task another process stored
for later on time, not at the next poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Protocol

from ..errors import StoreUnavailable
from ..records import TaskRecord
from ..store import AnnouncesWork, ChangeNotifier, RecordReader
from .delays import DueAlarm

__all__ = ["StoreFollower"]

log = logging.getLogger("tasks")

#: least seconds between two reads of the earliest due moment
DUE_READ_EVERY = 0.1


class Wakes(Protocol):
    """What following the store needs of the runner (a :class:`~tasks.Runner`)."""

    def wake(self, *, if_more: bool = False) -> None: ...

    def subscribe(self, listener: Callable[[TaskRecord], None]) -> Callable[[], None]: ...


class StoreFollower:
    """Wakes ``runner`` and ``alarm`` whenever ``store`` changes, or every ``poll`` seconds.

    ``names`` are the task names the runner runs (None: every name).
    """

    def __init__(
        self,
        runner: Wakes,
        store: RecordReader,
        alarm: DueAlarm,
        *,
        poll: float,
        names: frozenset[str] | None = None,
    ) -> None:
        self._runner = runner
        self._store = store
        self._alarm = alarm
        self._poll = poll
        self._names = names
        self._changed = asyncio.Event()
        self._unwatch: Callable[[], None] | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if isinstance(self._store, AnnouncesWork):
            self._unwatch = self._store.watch_work(self._changed.set)
        elif isinstance(self._store, ChangeNotifier):
            self._unwatch = self._store.watch_changes(self._changed.set)
        self._unsubscribe = self._runner.subscribe(self._written)
        self._task = asyncio.get_running_loop().create_task(self._follow())

    async def stop(self) -> None:
        for stop in (self._unwatch, self._unsubscribe):
            if stop is not None:
                stop()
        self._unwatch = self._unsubscribe = None
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def _written(self, record: TaskRecord) -> None:
        if record.state.terminal:  # a slot is free: claim again if more may be waiting
            self._runner.wake(if_more=True)

    async def _follow(self) -> None:
        read_due = 0.0  # when the earliest due moment may be read next
        due_unread = False  # a change since the last read
        while True:
            wait = self._poll
            if due_unread:
                wait = min(wait, max(0.0, read_due - time.monotonic()))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._changed.wait()
            if self._changed.is_set() or self._unwatch is None:  # a change, or a poll
                self._changed.clear()
                self._runner.wake()
            due_unread = True
            if time.monotonic() < read_due:
                continue  # under a stream of changes, read it at most every DUE_READ_EVERY
            read_due, due_unread = time.monotonic() + DUE_READ_EVERY, False
            try:
                due = await self._store.next_due(self._names)
            except StoreUnavailable as exc:  # the upkeep round reports the store's health
                log.debug("reading the next due task failed: %s", exc)
                continue
            except Exception:  # the loop goes on: it is what wakes this worker
                log.exception("reading the next due task failed; trying again")
                continue
            if due is not None:
                self._alarm.ring_at(due)
