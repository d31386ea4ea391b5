"""An in-memory store: fast, shared by nothing, lost on exit. For tests and ``:memory:``."""

from __future__ import annotations

import itertools
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Collection
from datetime import datetime
from typing import Literal

from ..records import State, TaskRecord
from . import memory_search, memory_stats
from .memory_limits import LimitsInMemory
from .memory_queues import PausedInMemory
from .memory_workflows import Families
from .protocol import FINISHED_STATES, LIVE_STATES, Change, ScheduleMark
from .search import Search
from .stats import Stats
from .windows import Window

__all__ = ["MemoryStore"]

#: states in which a task may be held by nobody, so that a cancel ends it at once
_UNHELD = (State.SCHEDULED, State.QUEUED)


class MemoryStore(PausedInMemory, LimitsInMemory):
    """Records in a dict, plus an ordered change log keyed by sequence number.

    To keep memory bounded, only the newest ``keep_finished`` terminal records are kept.
    """

    #: only this process sees these records (:class:`~tasks.store.ProcessLocal`)
    process_local: Literal[True] = True

    def __init__(self, keep_finished: int = 10_000) -> None:
        self._keep_finished = keep_finished
        self._finished: deque[str] = deque()
        self._records: dict[str, TaskRecord] = {}
        self._leases: dict[str, float] = {}  # owner -> lease end (unix time)
        self._flagged: set[str] = set()  # live tasks whose cancellation was requested
        # record id -> seq of its latest write, kept in write order
        self._latest: OrderedDict[str, int] = OrderedDict()
        self._seq = itertools.count(1)
        self._last = 0
        self._keys: dict[str, str] = {}  # idempotency key -> record id
        self._scheduled: set[str] = set()  # ids of scheduled records
        self._marks: dict[str, ScheduleMark] = {}  # schedule name -> its latest tick
        self._families = Families()
        self._limit_keys = {}
        self._starts = {}

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def create(
        self, record: TaskRecord, *, owner: str | None, lease: float
    ) -> TaskRecord | None:
        if record.id in self._records:
            raise ValueError(f"a task with id {record.id!r} already exists")
        key = record.idempotency_key
        if key is not None and key in self._keys:
            return self._records[self._keys[key]]
        if owner is not None:
            self._leases[owner] = time.time() + lease
        self._write(record.replace(owner=owner, cancel_requested=False))
        return None

    async def update(self, record: TaskRecord, *, owner: str) -> bool:
        current = self._records.get(record.id)
        if current is None or current.owner != owner or current.state not in LIVE_STATES:
            return False
        self._write(
            record.replace(
                owner=owner,
                cancel_requested=current.cancel_requested,
            )
        )
        return True

    async def get(self, task_id: str) -> TaskRecord | None:
        return self._records.get(task_id)

    async def query(
        self,
        *,
        state: State | None = None,
        name: str | None = None,
        limit: int = 100,
        before: str | None = None,
        id_prefix: str | None = None,
        text: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[TaskRecord]:
        search = Search.of(id_prefix=id_prefix, text=text, since=since, until=until)
        return memory_search.query(
            self._records, state=state, name=name, limit=limit, before=before, search=search
        )

    async def stats(self, *, since: datetime, until: datetime, bucket: float) -> Stats:
        return memory_stats.stats(self._records.values(), Window.of(since, until, bucket))

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

    async def latest_change(self, task_id: str) -> Change | None:
        record = self._records.get(task_id)
        return None if record is None else Change(self._latest[task_id], record)

    async def renew(self, owner: str, lease: float) -> list[str]:
        self._leases[owner] = time.time() + lease
        self._flagged = {
            task_id
            for task_id in self._flagged
            if (record := self._records.get(task_id)) and record.state in LIVE_STATES
        }
        return [task_id for task_id in self._flagged if self._records[task_id].owner == owner]

    async def claim(
        self,
        owner: str,
        lease: float,
        *,
        limit: int,
        is_dead: Callable[[str], bool],
        names: Collection[str] | None = None,
    ) -> list[TaskRecord]:
        now = time.time()
        self._leases[owner] = now + lease
        claimable: dict[str | None, bool] = {None: True, owner: False}
        claimed: list[TaskRecord] = []
        live = [
            record
            for record in self._records.values()
            if record.state in LIVE_STATES and (names is None or record.name in names)
        ]
        for record in sorted(live, key=_highest_first):
            if len(claimed) >= limit:
                break
            holder = record.owner
            if holder is not None and holder not in claimable:
                claimable[holder] = self._leases.get(holder, 0.0) < now or is_dead(holder)
            if claimable[holder]:
                claimed.append(self._write(record.replace(owner=owner)))
        return claimed

    async def claim_task(
        self,
        task_id: str,
        owner: str,
        lease: float,
        *,
        is_dead: Callable[[str], bool],
        names: Collection[str] | None = None,
    ) -> TaskRecord | None:
        now = time.time()
        self._leases[owner] = now + lease
        record = self._records.get(task_id)
        if record is None or record.state not in LIVE_STATES or record.owner == owner:
            return None
        if names is not None and record.name not in names:
            return None
        holder = record.owner
        if holder is not None and self._leases.get(holder, 0.0) >= now and not is_dead(holder):
            return None
        return self._write(record.replace(owner=owner))

    async def release(self, owner: str, *, keep: frozenset[str] = frozenset()) -> int:
        held = [
            record
            for record in self._records.values()
            if record.owner == owner and record.state in LIVE_STATES and record.id not in keep
        ]
        for record in held:
            self._write(record.replace(owner=None))
        return len(held)

    async def release_task(self, task_id: str, owner: str) -> bool:
        record = self._records.get(task_id)
        if record is None or record.owner != owner or record.state not in LIVE_STATES:
            return False
        self._write(record.replace(owner=None))
        return True

    async def request_cancel(self, task_id: str) -> TaskRecord | None:
        record = self._records.get(task_id)
        if record is None or record.state.terminal:
            return record
        record = self._cancel(record)
        for descendant in self._families.descendants(task_id, self._records):
            if not descendant.state.terminal:
                self._cancel(descendant)
        return record

    def _cancel(self, record: TaskRecord) -> TaskRecord:
        if record.state in _UNHELD and record.owner is None:
            return self._write(record.finished(State.CANCELLED).replace(cancel_requested=True))
        self._flagged.add(record.id)
        return self._write(record.replace(cancel_requested=True))

    async def take_due(
        self,
        owner: str,
        lease: float,
        *,
        now: datetime,
        limit: int,
        names: Collection[str] | None = None,
    ) -> list[TaskRecord]:
        self._leases[owner] = time.time() + lease
        due = [
            record
            for task_id in self._scheduled
            if ((record := self._records[task_id]).run_at is None or record.run_at <= now)
            and (names is None or record.name in names)
        ]
        due.sort(key=lambda record: record.run_at or now)
        return [
            self._write(record.replace(state=State.QUEUED, owner=owner)) for record in due[:limit]
        ]

    async def next_due(self, names: Collection[str] | None = None) -> datetime | None:
        moments = [
            record.run_at
            for task_id in self._scheduled
            if (record := self._records[task_id]).run_at is not None
            and (names is None or record.name in names)
        ]
        return min(moments, default=None)

    async def count(self, state: State) -> int:
        if state is State.SCHEDULED:
            return len(self._scheduled)
        return sum(1 for record in self._records.values() if record.state is state)

    async def count_by_name(self, state: State) -> dict[str, int]:
        ids = self._scheduled if state is State.SCHEDULED else self._records
        found: dict[str, int] = {}
        for task_id in ids:
            record = self._records[task_id]
            if record.state is state:
                found[record.name] = found.get(record.name, 0) + 1
        return found

    async def advance_schedule(
        self,
        name: str,
        tick: datetime,
        run: TaskRecord | None,
        *,
        owner: str | None,
        lease: float,
    ) -> bool:
        mark = self._marks.get(name)
        if mark is not None and mark.tick >= tick:
            return False
        if run is not None:
            if run.id in self._records:
                raise ValueError(f"a task with id {run.id!r} already exists")
            if owner is not None:
                self._leases[owner] = time.time() + lease
            self._write(run.replace(owner=owner, cancel_requested=False))
        self._marks[name] = ScheduleMark(name, tick, run.id if run is not None else None)
        return True

    async def schedule_marks(self) -> list[ScheduleMark]:
        return sorted(self._marks.values(), key=lambda mark: mark.name)

    async def prune(
        self, before: datetime, *, states: frozenset[State] = FINISHED_STATES, limit: int = 500
    ) -> list[TaskRecord]:
        old = self._families.old(
            self._records, list(self._latest), states=states, before=before, limit=limit
        )
        pruned = [member for family in old for member in family]
        for member in pruned:
            self._forget(member.id)
        return pruned

    def _write(self, record: TaskRecord) -> TaskRecord:
        if record.id not in self._records:
            self._families.add(record)
        self._last = next(self._seq)
        self._records[record.id] = record
        self._latest.pop(record.id, None)
        self._latest[record.id] = self._last
        if record.idempotency_key is not None:
            self._keys[record.idempotency_key] = record.id
        if record.state is State.SCHEDULED:
            self._scheduled.add(record.id)
        else:
            self._scheduled.discard(record.id)
        if record.state.terminal:
            self._finished.append(record.id)
            while len(self._finished) > self._keep_finished:
                self._forget(self._finished.popleft())
        return record

    def _forget(self, task_id: str) -> None:
        record = self._records.get(task_id)
        if record is not None and record.state.terminal:
            del self._records[task_id]
            del self._latest[task_id]
            self._families.remove(record)
            if record.idempotency_key is not None:
                self._keys.pop(record.idempotency_key, None)


def _highest_first(record: TaskRecord) -> int:
    return -record.priority  # sorted() keeps creation order among equals
