"""Delayed tasks: when a task submitted for later is due, and bringing due ones to run.

A task submitted with a delay (``delay=`` seconds, or ``at=`` a moment) whose time is still
to come is stored ``scheduled``, with its ``run_at``, held by nobody: it is a row in the
store, not an entry in any process's memory, so a restart in between loses nothing. Every
claiming runner's upkeep round (``recovery.claim``, every ``TASKS_POLL_INTERVAL``) takes the
due ones, now queued and held by it, and runs them as usual. A ``run_at`` that has passed
already runs at once. The process that accepted a delayed task also sets an alarm for its
``run_at`` (:class:`DueAlarm`), so that while it runs, the task starts on time rather than
up to a poll interval later.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from ..errors import ShuttingDown, StoreUnavailable, TooManyScheduled
from ..records import State, TaskRecord, utcnow
from ..store import RecordReader

__all__ = ["DueAlarm", "Runs", "check_room"]

log = logging.getLogger("tasks")


class Failures(Protocol):
    """Where a store failure is reported (the runner's ``StoreHealth``)."""

    def failed(self, exc: Exception) -> None: ...


class Runs(Protocol):
    """What delayed tasks need of the runner (a :class:`~tasks.Runner`)."""

    max_running: int
    max_scheduled: int

    @property
    def records(self) -> RecordReader: ...

    @property
    def store_health(self) -> Failures: ...

    @property
    def accepting(self) -> bool: ...

    @property
    def capacity(self) -> int: ...

    def subscribe(self, listener: Callable[[TaskRecord], None]) -> Callable[[], None]: ...

    def enqueue(self, task: TaskRecord | str) -> None: ...

    async def take_due(self, limit: int) -> list[TaskRecord]: ...


async def check_room(runner: Runs) -> None:
    """Refuse a delayed task while shutting down, or with ``max_scheduled`` already waiting."""
    if not runner.accepting:
        raise ShuttingDown("the server is shutting down and takes no new tasks; retry shortly")
    if await runner.records.count(State.SCHEDULED) >= runner.max_scheduled:
        raise TooManyScheduled(
            f"{runner.max_scheduled} delayed tasks are already waiting for their time; "
            "retry later or raise TASKS_MAX_SCHEDULED",
            retry_after=60,
        )


class DueAlarm:
    """Takes due tasks at the ``run_at`` of each delayed task this runner accepted.

    It hears of them as the runner announces its writes. It remembers at most
    ``MAX_ALARMS`` moments (the earliest); beyond them, and for tasks accepted by other
    processes, the upkeep round takes due tasks within its poll interval.
    """

    #: moments remembered at once
    MAX_ALARMS = 1000
    #: seconds past a ``run_at`` at which the alarm goes off, so that it is due by then
    LATE_BY = 0.002

    def __init__(self, runner: Runs) -> None:
        self.runner = runner
        self._moments: list[datetime] = []  # a heap
        self._timer: asyncio.TimerHandle | None = None
        self._armed_for: datetime | None = None
        self._taking: set[asyncio.Task[None]] = set()
        self._unsubscribe: Callable[[], None] | None = None

    def start(self) -> None:
        self._unsubscribe = self.runner.subscribe(self._heard)

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for task in self._taking:
            task.cancel()
        await asyncio.gather(*self._taking, return_exceptions=True)

    def _heard(self, record: TaskRecord) -> None:
        if record.state is State.SCHEDULED and record.run_at is not None:
            self.ring_at(record.run_at)

    def ring_at(self, moment: datetime) -> None:
        """Take due tasks at ``moment`` too (one another process stored, say)."""
        if moment in self._moments:
            return
        if len(self._moments) < self.MAX_ALARMS:
            heapq.heappush(self._moments, moment)
        elif moment < max(self._moments):
            self._moments.remove(max(self._moments))
            heapq.heapify(self._moments)
            heapq.heappush(self._moments, moment)
        self._arm()

    def _arm(self) -> None:
        if not self._moments:
            return
        earliest = self._moments[0]
        if self._armed_for is not None and self._armed_for <= earliest:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._armed_for = earliest
        seconds = max(0.0, (earliest - utcnow()).total_seconds()) + self.LATE_BY
        self._timer = asyncio.get_running_loop().call_later(seconds, self._ring)

    def _ring(self) -> None:
        self._timer = None
        self._armed_for = None
        now = utcnow()
        while self._moments and self._moments[0] <= now:
            heapq.heappop(self._moments)
        task = asyncio.get_running_loop().create_task(self._take())
        self._taking.add(task)
        task.add_done_callback(self._taking.discard)
        self._arm()  # the next moment, if any (one the clock has not reached yet rings again)

    async def _take(self) -> None:
        runner = self.runner
        if not runner.accepting:
            return
        try:
            taken = await runner.take_due(min(runner.capacity, 2 * runner.max_running))
        except StoreUnavailable as exc:  # the upkeep round takes them once the store is back
            runner.store_health.failed(exc)  # it may have committed: reconciled later
            log.warning("taking due delayed tasks failed: %s", exc)
            return
        for record in taken:
            runner.enqueue(record)
