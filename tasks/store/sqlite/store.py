"""The embedded default store: one SQLite file in WAL mode, shared by every worker process.

The SQL lives, by concept, in ``rows.py`` (rows as JSON, inserts), ``reads.py`` (records
and the change log), ``stats.py`` (counts of what ended), ``owners.py`` (leases and claims),
``later.py`` (due tasks and schedule ticks), ``workflows.py`` (a task's descendants) and
``retention.py``; the reads run through ``reader.py``; ``files.py`` opens the file;
``corruption.py`` makes a corrupted file refuse everything until it is replaced.
Writes commit in batches on the event loop's thread (``loop_writer.py``), or on the store's
own thread when another process holds the lock (``connection.py``); reads run on that thread.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Collection
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TypeVar

from ...limits import Admission, StartLimit
from ...records import State, TaskRecord
from ..protocol import FINISHED_STATES
from . import later, limits, owners, queues, retention
from .connection import ConnectionThread
from .corruption import Corruption
from .files import open_file, set_wal
from .loop_writer import Checkpointer, LoopWriter
from .reader import ReadsOnThread
from .rows import hold_lease, insert, replace
from .schema import SCHEMA_VERSION, upgrade

__all__ = ["SCHEMA_VERSION", "SQLiteStore"]

T = TypeVar("T")


class SQLiteStore(ReadsOnThread):
    """Task records in a SQLite database file (WAL mode), written through one thread."""

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: str = "NORMAL",
        busy_timeout: float = 10.0,
        max_batch: int = 1000,
    ) -> None:
        if synchronous.upper() not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
            raise ValueError(f"synchronous must be OFF, NORMAL, FULL or EXTRA, not {synchronous!r}")
        self.path = Path(path)
        self._synchronous = synchronous.upper()
        self._busy_timeout = busy_timeout
        self._next_seq = 0  # touched only by whichever connection holds the write lock
        self._unflushed: dict[str, _Update] = {}  # updates not yet taken into a batch
        self._leased: set[str] = set()  # owners whose lease this write batch has renewed
        self._corruption = Corruption(self.path)
        self._connection = ConnectionThread(
            self._connect,
            name=f"tasks-sqlite:{self.path.name}",
            max_batch=max_batch,
            on_write_batch=self._reset_seq,
            corruption=self._corruption,
        )
        self._checkpointer = Checkpointer(
            self._open, name=f"tasks-checkpoint:{self.path.name}", corruption=self._corruption
        )
        self._writer = LoopWriter(
            partial(self._open, busy_timeout=0.0, autocheckpoint=False),
            self._connection,
            self._checkpointer,
            on_write_batch=self._reset_seq,
            before_flush=self._unflushed.clear,
            corruption=self._corruption,
        )

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        await self._connection.start()  # creates the schema, off the loop
        self._writer.open()
        self._checkpointer.start()

    async def close(self) -> None:
        self._writer.close()
        await self._checkpointer.stop()
        await self._connection.stop()

    async def create(
        self, record: TaskRecord, *, owner: str | None, lease: float
    ) -> TaskRecord | None:
        return await self.create_soon(record, owner=owner, lease=lease)

    def create_soon(
        self, record: TaskRecord, *, owner: str | None, lease: float
    ) -> asyncio.Future[TaskRecord | None]:
        """Queue the insert and return its future at once (see :meth:`update_soon`)."""

        def create(conn: sqlite3.Connection) -> TaskRecord | None:
            if owner is not None and owner not in self._leased:
                hold_lease(conn, owner, lease)
                self._leased.add(owner)  # once per batch is enough: the batch commits as one
            return insert(conn, record, owner, self._take_seq(conn))

        # single: if the insert fails, the lease renewal before it may stay, which is harmless
        future: asyncio.Future[TaskRecord | None] = self._writer.submit(create, single=True)
        return future

    async def update(self, record: TaskRecord, *, owner: str) -> bool:
        return await self.update_soon(record, owner=owner)

    def update_soon(self, record: TaskRecord, *, owner: str) -> asyncio.Future[bool]:
        """Queue an update and return its future at once; writes stay in call order.

        A second update of a task before the batch commits replaces the first: a task that
        starts and ends within one loop iteration costs one write. A terminal record is
        never replaced: the update after it goes on its own, and is refused as it would be
        once the terminal one has committed.
        """
        pending = self._unflushed.get(record.id)
        if pending is not None and pending.owner == owner and not pending.record.state.terminal:
            pending.record = record
            return pending.future
        pending = _Update(record, owner)
        pending.future = self._writer.submit(partial(self._replace, pending), single=True)
        self._unflushed[record.id] = pending
        return pending.future

    def _replace(self, pending: _Update, conn: sqlite3.Connection) -> bool:
        return replace(conn, pending.record, pending.owner, self._take_seq(conn))

    async def renew(self, owner: str, lease: float) -> list[str]:
        renew = partial(owners.renew, owner=owner, lease=lease)
        return await self._write(renew)

    async def claim(
        self,
        owner: str,
        lease: float,
        *,
        limit: int,
        is_dead: Callable[[str], bool],
        names: Collection[str] | None = None,
    ) -> list[TaskRecord]:
        claim = partial(
            owners.claim,
            take_seq=self._take_seq,
            owner=owner,
            lease=lease,
            limit=limit,
            is_dead=is_dead,
            names=names,
        )
        return await self._write(claim)

    async def claim_task(
        self,
        task_id: str,
        owner: str,
        lease: float,
        *,
        is_dead: Callable[[str], bool],
        names: Collection[str] | None = None,
    ) -> TaskRecord | None:
        claim = partial(
            owners.claim_task,
            take_seq=self._take_seq,
            task_id=task_id,
            owner=owner,
            lease=lease,
            is_dead=is_dead,
            names=names,
        )
        return await self._write(claim)

    async def start_limited(
        self, record: TaskRecord, *, owner: str, lease: float, limit: StartLimit
    ) -> Admission:
        self._unflushed.pop(record.id, None)  # later updates go after this write, not before
        start = partial(limits.start_limited, take_seq=self._take_seq, record=record)
        return await self._write(partial(start, owner=owner, lease=lease, limit=limit))

    async def release(self, owner: str, *, keep: frozenset[str] = frozenset()) -> int:
        release = partial(owners.release, take_seq=self._take_seq, owner=owner, keep=keep)
        return await self._write(release)

    async def release_task(self, task_id: str, owner: str) -> bool:
        release = partial(
            owners.release_task, take_seq=self._take_seq, task_id=task_id, owner=owner
        )
        return await self._write(release)

    async def request_cancel(self, task_id: str) -> TaskRecord | None:
        flag = partial(owners.request_cancel, take_seq=self._take_seq, task_id=task_id)
        return await self._write(flag)

    async def take_due(
        self,
        owner: str,
        lease: float,
        *,
        now: datetime,
        limit: int,
        names: Collection[str] | None = None,
    ) -> list[TaskRecord]:
        take = partial(later.take_due, take_seq=self._take_seq, owner=owner, lease=lease, now=now)
        return await self._write(partial(take, limit=limit, names=names))

    async def advance_schedule(
        self,
        name: str,
        tick: datetime,
        run: TaskRecord | None,
        *,
        owner: str | None,
        lease: float,
    ) -> bool:
        advance = partial(
            later.advance_schedule,
            take_seq=self._take_seq,
            name=name,
            tick=tick,
            run=run,
            owner=owner,
            lease=lease,
        )
        return await self._write(advance)

    async def set_paused(self, queue: str, paused: bool) -> None:
        await self._write(partial(queues.set_paused, queue=queue, paused=paused))

    async def paused_queues(self) -> frozenset[str]:
        """Read on the loop's own connection: runners ask before each start."""
        found = self._writer.read_now(queues.paused)
        return found if found is not None else await self._read(queues.paused)

    async def prune(
        self, before: datetime, *, states: frozenset[State] = FINISHED_STATES, limit: int = 500
    ) -> list[TaskRecord]:
        wanted = sorted(state.value for state in states & FINISHED_STATES)
        if not wanted:
            return []
        select = partial(retention.old_finished, states=wanted, before=before, limit=limit)
        old = [record for group in await self._read(select) for record in group]  # off the loop
        if not old:
            return []
        deleted = await self._write(partial(retention.delete_finished, ids=[r.id for r in old]))
        return [record for record in old if record.id in deleted]

    # -- on the connection thread -------------------------------------------------------

    async def _write(self, operation: Callable[[sqlite3.Connection], T]) -> T:
        result: T = await self._writer.submit(operation, single=False)
        return result

    def _take_seq(self, conn: sqlite3.Connection) -> int:
        """The next store-wide sequence number; exact because writes hold the database lock."""
        if self._next_seq == 0:
            self._next_seq = conn.execute("SELECT coalesce(max(seq), 0) FROM tasks").fetchone()[0]
        self._next_seq += 1
        return self._next_seq

    def _reset_seq(self) -> None:
        self._next_seq = 0  # another process may have written since the last batch
        self._leased.clear()

    def _connect(self) -> sqlite3.Connection:
        conn = self._open()
        try:
            set_wal(conn, deadline=time.monotonic() + self._busy_timeout)
            upgrade(conn, self.path)
        except BaseException:
            conn.close()
            raise
        return conn

    def _open(
        self, *, busy_timeout: float | None = None, autocheckpoint: bool = True
    ) -> sqlite3.Connection:
        timeout = self._busy_timeout if busy_timeout is None else busy_timeout
        return open_file(
            self.path, timeout=timeout, synchronous=self._synchronous, autocheckpoint=autocheckpoint
        )


class _Update:
    __slots__ = ("future", "owner", "record")

    def __init__(self, record: TaskRecord, owner: str) -> None:
        self.record = record
        self.owner = owner
        self.future: asyncio.Future[bool]
