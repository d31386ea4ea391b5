"""The store contract: what every task store implements, and what a store may add.

A store is any class with the methods of :class:`Store`: reading (:class:`RecordReader`),
and holding and writing records. It needs no base class. ``store_from_url``
(``tasks/store/__init__.py``) chooses one from a location, and the ``store`` fixture of
``tests/conftest.py`` runs the contract suite (``tests/test_store_*.py``) on each.

A store may also have one of the optional capabilities below. Each is a
``runtime_checkable`` protocol, and the engine looks for it once, with ``isinstance``, when it
starts using the store; a store has it by having its members, with nothing to declare
elsewhere. Without it the engine does the same work a plainer way:

- :class:`QueuesWrites`: writes queued without a coroutine, so the engine need not await
  each commit (without: every write is awaited);
- :class:`ChangeNotifier`: announces other processes' commits, so event streams need not
  poll (without: one ``last_seq`` poll every ``EVENTS_POLL_INTERVAL`` while anyone follows);
- :class:`AnnouncesWork`: announces tasks left free to claim, so workers that take their
  tasks from the store claim only then (without: on every change, or by polling);
- :class:`AnnouncesPauses`: announces each pause and resume of a queue, so runners keep the
  paused queues in memory (without: they read them from the store before each start);
- :class:`ProcessLocal`: records only this process sees (without: the store is taken to be
  shared by every process that opens the same location);
- :class:`WritesInTransaction`: writes a new record inside the caller's own database
  transaction (without: ``connection=`` is refused).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from ..limits import Admission, StartLimit
from ..records import State, TaskRecord
from .capabilities import (
    AnnouncesPauses,
    AnnouncesWork,
    ChangeNotifier,
    ProcessLocal,
    QueuesWrites,
    WritesInTransaction,
)
from .stats import Stats

__all__ = [
    "FINISHED_STATES",
    "LIVE_STATES",
    "AnnouncesPauses",
    "AnnouncesWork",
    "Change",
    "ChangeNotifier",
    "ProcessLocal",
    "QueuesWrites",
    "RecordReader",
    "ScheduleMark",
    "Store",
    "WritesInTransaction",
]

#: states in which a task still needs an owner to reach its end
LIVE_STATES = (State.QUEUED, State.RUNNING)
#: states a task ends in; only such records are ever pruned
FINISHED_STATES = frozenset({State.SUCCEEDED, State.FAILED, State.CANCELLED})


@dataclass(frozen=True, slots=True)
class Change:
    """A record as it was written, with the store-wide sequence number of that write."""

    seq: int
    record: TaskRecord


@dataclass(frozen=True, slots=True)
class ScheduleMark:
    """How far a periodic schedule has got: its latest tick, run or skipped, and that run."""

    #: the schedule's name (its task's name)
    name: str
    #: the latest tick (UTC) any process has handled
    tick: datetime
    #: the id of the run created for that tick; None if the tick was skipped
    task_id: str | None


class RecordReader(Protocol):
    """The reading part of a store: records, the change log and the schedules' marks.

    The API, the dashboard, event streams and schedules read records through this, as
    ``Runner.records``: they leave holding and writing to the runner.
    """

    async def get(self, task_id: str) -> TaskRecord | None:
        """The record with that id, or None."""

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
        """Records newest first, optionally filtered by state and name; with ``before`` (a
        task id), only those created before that task (none if there is no such task).

        ``id_prefix`` keeps the records whose id starts with it; ``text`` those whose
        arguments (as stored JSON) or error message contain it, ignoring case (``%`` and
        ``_`` are plain characters); ``since`` and ``until`` those created at or after
        ``since`` and before ``until``."""

    async def stats(self, *, since: datetime, until: datetime, bucket: float) -> Stats:
        """The tasks that ended from ``since`` to ``until`` (UTC), counted in the store
        (see :mod:`tasks.store.stats`), in buckets of ``bucket`` seconds."""

    async def changes(self, after: int, limit: int = 100) -> list[Change]:
        """The latest write of each record changed after sequence number ``after``, oldest first."""

    async def last_seq(self) -> int:
        """The sequence number of the latest write (0 for an empty store)."""

    async def latest_change(self, task_id: str) -> Change | None:
        """The record with that id and the sequence number of its latest write, or None."""

    async def count(self, state: State) -> int:
        """How many records are in ``state``."""

    async def count_by_name(self, state: State) -> dict[str, int]:
        """How many records are in ``state``, by task name (names with none are left out)."""

    async def next_due(self, names: Collection[str] | None = None) -> datetime | None:
        """The earliest ``run_at`` of a scheduled task named in ``names`` (None: there is
        none), so that a process can take it on time (:meth:`Store.take_due`)."""

    async def schedule_marks(self) -> list[ScheduleMark]:
        """The latest tick of every schedule that has had one."""

    async def paused_queues(self) -> frozenset[str]:
        """The queues paused now (:meth:`Store.set_paused`), as every process sees them.

        Runners read it before each start on a store without :class:`AnnouncesPauses`, so it
        must be cheap: a small table, read without a thread hop where the store can."""


@runtime_checkable
class Store(RecordReader, Protocol):
    """Where task records live, and who holds each live task.

    Every call is async and must not block the event loop. A live (queued or running) task
    is held by at most one owner at a time, under a lease the owner renews; ``owner`` and
    ``cancel_requested`` on records read back come from the store, not from what was written.
    A ``scheduled`` task is held by nobody until :meth:`take_due` makes it queued.

    ``names``, where a call takes it, is the task names the caller can run: a task of any
    other name is left where it is, as if it were not there, so that processes of different
    apps (or the old and new version of one app) can share a store, each taking only its
    own tasks, and such tasks never count against ``limit``. None: every name.

    A store that fails (it cannot be reached, or its database refuses: busy, full,
    read-only) raises :class:`~tasks.errors.StoreUnavailable`, never a driver's own error;
    the engine then writes again later, or answers ``503``. A write that raised it may still
    have committed.
    """

    async def open(self) -> None:
        """Acquire resources (files, connections, threads). Called once before use."""

    async def close(self) -> None:
        """Flush and release resources. Pending writes complete first."""

    async def create(
        self, record: TaskRecord, *, owner: str | None, lease: float
    ) -> TaskRecord | None:
        """Store a new record durably, held by ``owner`` (None: by nobody yet) for ``lease``
        seconds, and return None; a ``ValueError`` if its id exists.

        A record whose ``idempotency_key`` another record already has is not stored: that
        other record is returned instead (keys are unique in the store, whatever the task).
        """

    async def update(self, record: TaskRecord, *, owner: str) -> bool:
        """Replace the record if ``owner`` still holds it; False (nothing written) if not.
        A record written in a terminal state is no longer held by anyone (no later write
        succeeds); its ``owner`` stays, naming the process that ended it."""

    async def renew(self, owner: str, lease: float) -> list[str]:
        """Extend the lease on every live task ``owner`` holds; return the ids among them
        whose cancellation was requested."""

    async def claim(
        self,
        owner: str,
        lease: float,
        *,
        limit: int,
        is_dead: Callable[[str], bool],
        names: Collection[str] | None = None,
    ) -> list[TaskRecord]:
        """Take up to ``limit`` live tasks named in ``names`` that nobody holds, whose lease
        ran out, or whose owner ``is_dead``, oldest first; they are returned as found (queued
        or running), now held by ``owner``."""

    async def claim_task(
        self,
        task_id: str,
        owner: str,
        lease: float,
        *,
        is_dead: Callable[[str], bool],
        names: Collection[str] | None = None,
    ) -> TaskRecord | None:
        """Take the one live task ``task_id`` as :meth:`claim` would: if nobody holds it, its
        holder's lease ran out, or its holder ``is_dead``. Returns it as found (queued or
        running), now held by ``owner``; None if a live owner (``owner`` itself included)
        holds it, it has ended, its name is not in ``names``, or there is no such task."""

    async def start_limited(
        self, record: TaskRecord, *, owner: str, lease: float, limit: StartLimit
    ) -> Admission:
        """Write ``record``, the start of a queued task ``owner`` holds, only if starting it
        keeps ``limit`` (see ``tasks/limits.py``), checked and written in one transaction
        that no other start of the same task name runs through at the same time.

        It keeps the concurrency limit if fewer than ``limit.concurrency`` records of its
        name and ``limit.key`` are ``running``, held by an owner whose lease is live; the rate
        limit if fewer than ``limit.rate`` starts of its name were admitted in the last
        ``limit.period`` seconds (by the store's clock). An admitted start counts from then.
        Writing the same start again (its answer was lost) admits it again. ``owner``'s lease
        is renewed for ``lease`` seconds. Refused, the record stays as it was, and
        :attr:`Admission.retry_in` says when the rate limit frees a start. Admitted,
        :attr:`Admission.record` is the start as written, its ``started_at`` the moment of
        the admission (so that no two starts' times disagree with the limit)."""

    async def release(self, owner: str, *, keep: frozenset[str] = frozenset()) -> int:
        """Let go of every live task ``owner`` holds except those in ``keep``; return how many."""

    async def release_task(self, task_id: str, owner: str) -> bool:
        """Let go of the one live task ``task_id`` if ``owner`` holds it, changing nothing
        else (its state and attempts stay); False if ``owner`` does not hold it."""

    async def request_cancel(self, task_id: str) -> TaskRecord | None:
        """Flag the task for cancellation. A scheduled task, or a queued one nobody holds, is
        cancelled at once.

        If the task is not finished, each of its descendants (the tasks whose ``parent`` is
        it, theirs, and so on) that is scheduled, queued or running is treated the same way,
        in the same transaction, each write with its own sequence number; :meth:`renew`
        returns the flagged ones to their holders. A finished task changes nothing, its
        descendants included.
        Returns the task's record as it now is, or None if there is no such task."""

    async def take_due(
        self,
        owner: str,
        lease: float,
        *,
        now: datetime,
        limit: int,
        names: Collection[str] | None = None,
    ) -> list[TaskRecord]:
        """Turn up to ``limit`` scheduled tasks named in ``names`` whose ``run_at`` is not
        after ``now`` into queued ones held by ``owner``, earliest first; return them as now
        stored."""

    async def advance_schedule(
        self,
        name: str,
        tick: datetime,
        run: TaskRecord | None,
        *,
        owner: str | None,
        lease: float,
    ) -> bool:
        """Move schedule ``name`` to ``tick`` and store ``run``, its record for that tick
        (None: the tick is skipped), held by ``owner``: both or neither, and only if the
        schedule's latest tick is earlier. False if it is not (another process got there
        first): whatever the number of processes trying, one run per tick at most."""

    async def set_paused(self, queue: str, paused: bool) -> None:
        """Pause or resume ``queue`` for every process sharing the store, across restarts
        (a queue never set is not paused). Once it returns, no runner starts a task of a
        paused queue: runners check :meth:`paused_queues` before each start, and hand such a
        task back (:meth:`release_task`) instead. A store that :class:`AnnouncesWork`
        announces a resume as work, since the queue's tasks are free to claim again."""

    async def prune(
        self, before: datetime, *, states: frozenset[State] = FINISHED_STATES, limit: int = 500
    ) -> list[TaskRecord]:
        """Delete up to ``limit`` finished records in ``states`` that finished before
        ``before``, oldest first; return those this call deleted. Live records are never
        deleted, nor the latest write (the change feed's position).

        A workflow goes as one. A record whose ``parent`` still exists is never deleted on
        its own: it goes with its parent. A record deleted takes all its descendants with
        it, whatever their state and finish time, and only once none of them is scheduled,
        queued or running (or holds the latest write): until then it is kept. ``limit``
        counts such records, not their descendants; the list returned holds every record
        deleted, each followed by its descendants."""
