"""The tasks waiting for a running slot: highest priority first, then in arrival order."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

__all__ = ["Waiting"]


class Waiting:
    """Task ids by priority, each priority first in, first out.

    Few distinct priorities are in use at once, so a queue per priority, taken from the
    highest that has any, costs no more per task than one queue does.
    """

    def __init__(self) -> None:
        self._levels: dict[int, deque[str]] = {}
        self._order: list[int] = []  # the priorities that have a queue, highest first
        self._count = 0

    def append(self, task_id: str, priority: int = 0) -> None:
        self._level(priority).append(task_id)
        self._count += 1

    def appendleft(self, task_id: str, priority: int = 0) -> None:
        """Put ``task_id`` first among those of its priority (it was first already)."""
        self._level(priority).appendleft(task_id)
        self._count += 1

    def popleft(self) -> str:
        """The next task to start: the longest waiting of the highest priority."""
        return self.popleft_with_priority()[1]

    def popleft_with_priority(self) -> tuple[int, str]:
        """:meth:`popleft`, with the task's priority."""
        for priority in self._order:
            level = self._levels[priority]
            if level:
                self._count -= 1
                return priority, level.popleft()
        raise IndexError("no task is waiting")

    def _level(self, priority: int) -> deque[str]:
        level = self._levels.get(priority)
        if level is None:
            level = self._levels[priority] = deque()
            self._order.append(priority)
            self._order.sort(reverse=True)
        return level

    def remove(self, task_id: str) -> None:
        """Take ``task_id`` out; a ``ValueError`` if it does not wait."""
        for level in self._levels.values():
            if task_id in level:
                level.remove(task_id)
                self._count -= 1
                return
        raise ValueError(f"task {task_id} does not wait here")

    def clear(self) -> None:
        self._levels.clear()
        self._order.clear()
        self._count = 0

    def __contains__(self, task_id: object) -> bool:
        return any(task_id in level for level in self._levels.values())

    def __iter__(self) -> Iterator[str]:
        for priority in self._order:
            yield from self._levels[priority]

    def __len__(self) -> int:
        return self._count

    def __bool__(self) -> bool:
        return self._count > 0
