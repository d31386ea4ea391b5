"""The limited starts of :class:`~tasks.store.MemoryStore` (``tasks/limits.py``)."""

from __future__ import annotations

import time
from collections import deque
from datetime import UTC, datetime

from ..limits import Admission, StartLimit
from ..records import State, TaskRecord

__all__ = ["LimitsInMemory"]


class LimitsInMemory:
    """:meth:`~tasks.store.Store.start_limited` over the store's records and leases."""

    _records: dict[str, TaskRecord]
    _leases: dict[str, float]
    #: the group of each task admitted that may still run, and the recent starts of each name
    _limit_keys: dict[str, str]
    _starts: dict[str, deque[float]]

    def _write(self, record: TaskRecord) -> TaskRecord:
        raise NotImplementedError

    async def start_limited(
        self, record: TaskRecord, *, owner: str, lease: float, limit: StartLimit
    ) -> Admission:
        current = self._records.get(record.id)
        if current is None or current.owner != owner:
            return Admission(started=False, held=False)
        if current.state is not State.QUEUED:
            started = current.state is State.RUNNING and current.attempts == record.attempts
            return Admission(started=started, held=started, record=current if started else None)
        now = time.time()
        self._leases[owner] = now + lease
        keys, starts = self._limit_keys, self._starts
        if limit.concurrency is not None:
            running = 0
            for task_id, key in list(keys.items()):
                other = self._records.get(task_id)
                if other is None or other.state is not State.RUNNING:
                    del keys[task_id]  # ended, or back in the queue for a retry
                elif key == limit.key and other.name == record.name and other.owner is not None:
                    running += self._leases.get(other.owner, 0.0) >= now
            if running >= limit.concurrency:
                return Admission(started=False)
        if limit.rate is not None:
            recent = starts.setdefault(record.name, deque())
            while recent and recent[0] <= now - limit.period:
                recent.popleft()
            if len(recent) >= limit.rate:
                frees_at = recent[len(recent) - limit.rate]
                return Admission(started=False, retry_in=frees_at + limit.period - now)
            recent.append(now)
        keys[record.id] = limit.key
        started_at = datetime.fromtimestamp(now, UTC)
        record = record.replace(owner=owner, started_at=started_at)
        self._write(record.replace(cancel_requested=current.cancel_requested))
        return Admission(started=True, record=record)
