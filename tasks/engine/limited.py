"""Tasks a limit holds back: they wait here, queued, until the store admits their start.

A start the store refuses (:meth:`~tasks.store.Store.start_limited`, see ``tasks/limits.py``)
leaves the task ``queued`` and held by this runner, without a running slot. The tasks of one
group (a task's name and, with ``concurrency_key``, that argument's value) wait in one line,
highest priority first, then in the order they were held back; only the first of a line asks
the store again, as a task that waits for a slot:

- refused by the rate limit: at the moment the store says a start is free;
- refused by the concurrency limit: as soon as a task of the group ends here, else after a
  poll that doubles from ``MIN_POLL`` to ``MAX_POLL`` while it is refused (so a task ending in
  another process is seen within ``MAX_POLL``);
- once one is admitted, the next of its line asks at once, so that free places fill quickly.

A line costs one store write per try, whatever its length.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from .waiting import Waiting

__all__ = ["MAX_POLL", "MIN_POLL", "HeldBack", "LimitWait"]

#: seconds before the first of a line held back by a concurrency limit asks again, at first
MIN_POLL = 0.05
#: ... and at most, while it keeps being refused
MAX_POLL = 0.5


@dataclass(frozen=True, slots=True)
class LimitWait:
    """An attempt's answer when the store refused its start: hold the task back."""

    #: the task's name, and its group (``name`` and the ``concurrency_key`` value)
    name: str
    group: str
    priority: int
    #: seconds until the rate limit frees a start; None: wait for a running task to end
    retry_in: float | None


class _Line:
    __slots__ = ("out", "poll", "timer", "waiting")

    def __init__(self) -> None:
        self.waiting = Waiting()
        self.out: str | None = None  # released to ask the store, not back yet
        self.timer: asyncio.TimerHandle | None = None
        self.poll = MIN_POLL


class HeldBack:
    """The lines of tasks held back by a limit; ``release(task_id, priority)`` queues one to
    ask the store again (the slots' ``enqueue``)."""

    def __init__(self, release: Callable[[str, int], None]) -> None:
        self._release = release
        self._lines: dict[str, _Line] = {}
        self._group_of: dict[str, str] = {}  # every task held back, waiting or out
        self._since: dict[str, float] = {}  # when each was first held back
        #: told the seconds each limited start waited for its limit, with the task's name
        self.on_wait: Callable[[str, float], None] | None = None

    def __len__(self) -> int:
        """Tasks waiting in a line (not those out asking the store)."""
        return sum(len(line.waiting) for line in self._lines.values())

    def __contains__(self, task_id: object) -> bool:
        group = self._group_of.get(task_id) if isinstance(task_id, str) else None
        return group is not None and self._lines[group].out != task_id

    def ids(self) -> list[str]:
        return [task_id for line in self._lines.values() for task_id in line.waiting]

    def hold(self, task_id: str, wait: LimitWait) -> None:
        """Hold ``task_id`` back in its group's line: the first of its level if it was the
        line's first already, else the last."""
        line = self._lines.get(wait.group)
        if line is None:
            line = self._lines[wait.group] = _Line()
        self._group_of[task_id] = wait.group
        self._since.setdefault(task_id, time.monotonic())
        if line.out == task_id:
            line.out = None
            line.waiting.appendleft(task_id, wait.priority)
            if wait.retry_in is None:
                delay, line.poll = line.poll, min(MAX_POLL, line.poll * 2)
            else:
                delay = wait.retry_in
            self._set_timer(wait.group, line, delay)
        else:
            line.waiting.append(task_id, wait.priority)
            if line.out is None and line.timer is None:
                self._set_timer(wait.group, line, wait.retry_in or line.poll)

    def admitted(self, name: str, group: str, task_id: str) -> None:
        """The store admitted the start of ``task_id``: the next of its line asks now."""
        since = self._since.pop(task_id, None)
        if self.on_wait is not None:
            self.on_wait(name, 0.0 if since is None else time.monotonic() - since)
        if self._group_of.pop(task_id, None) is None:
            return
        line = self._lines[group]
        if line.out == task_id:
            line.out = None
        line.poll = MIN_POLL
        self._next(group, line)

    def ended(self, group: str) -> None:
        """A task of ``group`` ended here: its place is free, the first of its line asks now."""
        line = self._lines.get(group)
        if line is not None and line.out is None:
            self._next(group, line)

    def remove(self, task_id: str) -> bool:
        """Forget ``task_id`` (cancelled); False if it is not held back here."""
        group = self._group_of.get(task_id)
        if group is None:
            return False
        line = self._lines[group]
        if line.out == task_id:
            return False  # out asking the store: it is in the slots' queue
        line.waiting.remove(task_id)
        self._forget(task_id)
        self._drop_if_empty(group, line)
        return True

    def forget(self, task_id: str) -> None:
        """A task out asking the store left without an answer (cancelled, taken over)."""
        group = self._group_of.get(task_id)
        if group is None:
            return
        line = self._lines[group]
        if line.out == task_id:
            line.out = None
            self._forget(task_id)
            self._next(group, line)

    def clear(self) -> list[str]:
        """Forget every line (a drain); return the ids that waited in them."""
        waiting = self.ids()
        for line in self._lines.values():
            if line.timer is not None:
                line.timer.cancel()
        self._lines.clear()
        self._group_of.clear()
        self._since.clear()
        return waiting

    def _forget(self, task_id: str) -> None:
        self._group_of.pop(task_id, None)
        self._since.pop(task_id, None)

    def _set_timer(self, group: str, line: _Line, delay: float) -> None:
        if line.timer is not None:
            line.timer.cancel()
        loop = asyncio.get_running_loop()
        line.timer = loop.call_later(max(0.0, delay), self._next, group, line)

    def _next(self, group: str, line: _Line) -> None:
        """Release the first of ``line`` to ask the store, unless one is out already."""
        if line.timer is not None:
            line.timer.cancel()
            line.timer = None
        if line.out is not None:
            return
        if not line.waiting:
            self._drop_if_empty(group, line)
            return
        priority, task_id = line.waiting.popleft_with_priority()
        line.out = task_id
        self._release(task_id, priority)

    def _drop_if_empty(self, group: str, line: _Line) -> None:
        if not line.waiting and line.out is None and self._lines.get(group) is line:
            if line.timer is not None:
                line.timer.cancel()
            del self._lines[group]
