"""An in-memory store: fast, shared by nothing, lost on exit. For tests and ``:memory:``."""

from __future__ import annotations

import itertools
from collections import OrderedDict, deque

from ..records import State, TaskRecord
from .protocol import Change

__all__ = ["MemoryStore"]


class MemoryStore:
    """Records in a dict, plus an ordered change log keyed by sequence number.

    To keep memory bounded, only the newest ``keep_finished`` terminal records are kept.
    """

    def __init__(self, keep_finished: int = 10_000) -> None:
        self._keep_finished = keep_finished
        self._finished: deque[str] = deque()
        self._records: dict[str, TaskRecord] = {}
        # record id -> seq of its latest write, kept in write order
        self._latest: OrderedDict[str, int] = OrderedDict()
        self._seq = itertools.count(1)
        self._last = 0

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def create(self, record: TaskRecord) -> None:
        if record.id in self._records:
            raise ValueError(f"a task with id {record.id!r} already exists")
        self._write(record)

    async def update(self, record: TaskRecord) -> None:
        if record.id not in self._records:
            raise KeyError(record.id)
        self._write(record)

    async def get(self, task_id: str) -> TaskRecord | None:
        return self._records.get(task_id)

    async def query(
        self, *, state: State | None = None, name: str | None = None, limit: int = 100
    ) -> list[TaskRecord]:
        found: list[TaskRecord] = []
        for record in reversed(self._records.values()):  # insertion order is creation order
            if len(found) >= limit:
                break
            if (state is None or record.state is state) and (name is None or record.name == name):
                found.append(record)
        return found

    async def changes(self, after: int, limit: int = 100) -> list[Change]:
        found = []
        for task_id, seq in reversed(self._latest.items()):
            if seq <= after:
                break
            found.append(Change(seq, self._records[task_id]))
        found.reverse()
        return found[:limit]

    async def last_seq(self) -> int:
        return self._last

    def _write(self, record: TaskRecord) -> None:
        self._last = next(self._seq)
        self._records[record.id] = record
        self._latest.pop(record.id, None)
        self._latest[record.id] = self._last
        if record.state.terminal:
            self._finished.append(record.id)
            while len(self._finished) > self._keep_finished:
                self._forget(self._finished.popleft())

    def _forget(self, task_id: str) -> None:
        record = self._records.get(task_id)
        if record is not None and record.state.terminal:
            del self._records[task_id]
            del self._latest[task_id]
