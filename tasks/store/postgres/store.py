"""``PostgresStore``: the Store protocol on PostgreSQL, shared by processes on many machines.

Writes go through :class:`~.batches.WriteBatches` (group commit, sequence numbers in commit
order); reads (:class:`~.reader.PostgresReader`) take a pooled connection of their own.
Claims lock rows with ``FOR UPDATE SKIP LOCKED``. Leases are kept in the database server's
clock, so that the clocks of the machines sharing it do not matter. A new record can also
be written in a caller's own transaction (:mod:`.in_transaction`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection
from datetime import datetime
from functools import partial

import psycopg

from ...errors import StoreUnavailable
from ...limits import Admission, StartLimit
from ...records import State, TaskRecord
from ..protocol import FINISHED_STATES
from . import in_transaction, later, limits, owners, prune
from .batches import WORK_CHANNEL, Sequence, WriteBatches
from .listener import ChangeListener
from .pool import Connection, Database
from .queued import QueuedWrites
from .queues import PausedQueues
from .reader import PostgresReader
from .schema import prepare
from .session import Session

__all__ = ["PostgresStore"]

#: seconds a caller's thread waits for the store's identity to be read again
IDENTITY_WAIT = 10.0


class PostgresStore(PostgresReader):
    """Task records in a PostgreSQL database, for every process of every machine using it.

    ``pool_size`` bounds this process's pooled connections: one serves the write batch in
    progress, the others concurrent reads; change listening uses one more of its own.
    """

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 4,
        acquire_timeout: float = 3.0,
        max_batch: int = 500,
    ) -> None:
        if pool_size < 2:
            raise ValueError(
                f"pool_size must be at least 2 (a writer and a reader), not {pool_size}"
            )
        self.url = url
        super().__init__(
            Database(
                url,
                pool_size=pool_size,
                acquire_timeout=acquire_timeout,
                prepare=self._prepare,
            )
        )
        self._store_id: str | None = None  # known once the schema has been checked
        self._loop: asyncio.AbstractEventLoop | None = None  # the pool's, once opened
        self._batches = WriteBatches(self._database, max_batch=max_batch)
        self._queued = QueuedWrites(self._batches)
        self._listener = ChangeListener(url, self._database.where, heard=self._heard)
        self._numbering = False  # a numbering of rows stored in callers' transactions is queued
        self._work = ChangeListener(url, self._database.where, WORK_CHANNEL)
        self._paused = PausedQueues(url, self._database.where, self._batches, self._read)

    async def open(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self._database.open()
        self._batches.start()

    async def _prepare(self, conn: Connection) -> None:
        self._store_id = await prepare(conn, self._database.where)

    async def close(self) -> None:
        try:
            await self._batches.stop()
            await self._listener.close()
            await self._work.close()
            await self._paused.close()
        finally:
            await self._database.close()

    def watch_changes(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` whenever any process commits a change (``LISTEN/NOTIFY``)."""
        return self._listener.watch(callback)

    def watch_work(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` whenever any process leaves tasks free to claim, or stores one
        for later (``LISTEN/NOTIFY``)."""
        return self._work.watch(callback)

    def watch_pauses(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` whenever any process pauses or resumes a queue (``LISTEN/NOTIFY``)."""
        return self._paused.watch(callback)

    async def set_paused(self, queue: str, paused: bool) -> None:
        await self._paused.set(queue, paused)

    async def paused_queues(self) -> frozenset[str]:
        return await self._paused.read()

    def _heard(self, payload: str | None) -> None:
        """Number the rows callers' transactions have committed (see :mod:`.in_transaction`)
        on hearing of such a commit, or on listening again (one may have gone unheard); once
        for all those heard meanwhile."""
        if payload not in (in_transaction.NEW, None) or self._numbering:
            return
        self._numbering = True

        async def number(conn: Session, sequence: Sequence) -> None:
            self._numbering = False  # a commit heard from now on needs a numbering of its own
            await in_transaction.number_new(conn, sequence)

        def settled(done: asyncio.Future[None]) -> None:
            if done.cancelled() or done.exception() is not None:  # the next one tries again
                self._numbering = False

        try:
            self._batches.submit(number).add_done_callback(settled)
        except RuntimeError:  # closed: the next claim numbers them
            self._numbering = False

    # -- writes ---------------------------------------------------------------------------

    async def create_in(self, connection: object, record: TaskRecord) -> TaskRecord | None:
        """Insert ``record`` in the transaction open on ``connection`` (a
        ``psycopg.AsyncConnection``); None, or the record that holds its idempotency key."""
        if not isinstance(connection, psycopg.AsyncConnection):
            raise in_transaction.wrong_connection("AsyncConnection", connection)
        try:
            return await in_transaction.create_in(connection, record, self._here())
        except in_transaction.Elsewhere:
            # unless the store's database was made again since its identity was read
            if not self._reread(await self._read_identity()):
                raise
        return await in_transaction.create_in(connection, record, self._here())

    def create_in_sync(self, connection: object, record: TaskRecord) -> TaskRecord | None:
        """:meth:`create_in` from synchronous code, with a ``psycopg.Connection``."""
        if not isinstance(connection, psycopg.Connection):
            raise in_transaction.wrong_connection("Connection", connection)
        try:
            return in_transaction.create_in_sync(connection, record, self._here())
        except in_transaction.Elsewhere:
            # unless the store's database was made again since its identity was read
            if not self._reread(self._read_identity_from_thread()):
                raise
        return in_transaction.create_in_sync(connection, record, self._here())

    def _here(self) -> in_transaction.Here:
        return in_transaction.Here(self._store_id, self._database.where)

    async def _read_identity(self) -> object:
        """The identity the store's database has now; None if it cannot be read (the pool's
        watchdog bounds the wait)."""
        try:
            rows = await self._read(in_transaction.STORE_ID, ())
        except (StoreUnavailable, psycopg.Error):
            return None
        return rows[0][0] if rows else None

    def _read_identity_from_thread(self) -> object:
        """:meth:`_read_identity` from a caller's thread, on the loop the pool belongs to;
        None from that loop's own thread, which must not block on it."""
        loop = self._loop
        try:
            here = asyncio.get_running_loop()
        except RuntimeError:
            here = None
        if loop is None or loop.is_closed() or here is loop:
            return None
        read = asyncio.run_coroutine_threadsafe(self._read_identity(), loop)
        try:
            return read.result(timeout=IDENTITY_WAIT)
        except TimeoutError:
            read.cancel()
            return None

    def _reread(self, store_id: object) -> bool:
        """Keep the store's identity read again; whether it had changed."""
        if store_id is None or store_id == self._store_id:
            return False
        self._store_id = str(store_id)
        return True

    async def create(
        self, record: TaskRecord, *, owner: str | None, lease: float
    ) -> TaskRecord | None:
        return await self.create_soon(record, owner=owner, lease=lease)

    def create_soon(
        self, record: TaskRecord, *, owner: str | None, lease: float
    ) -> asyncio.Future[TaskRecord | None]:
        """Queue the insert and return its future at once (see :mod:`.queued`)."""
        return self._queued.create_soon(record, owner=owner, lease=lease)

    async def update(self, record: TaskRecord, *, owner: str) -> bool:
        return await self.update_soon(record, owner=owner)

    def update_soon(self, record: TaskRecord, *, owner: str) -> asyncio.Future[bool]:
        """Queue an update and return its future at once (see :mod:`.queued`)."""
        return self._queued.update_soon(record, owner=owner)

    async def renew(self, owner: str, lease: float) -> list[str]:
        result: list[str] = await self._batches.run(partial(owners.renew, owner=owner, lease=lease))
        return result

    async def claim(
        self,
        owner: str,
        lease: float,
        *,
        limit: int,
        is_dead: Callable[[str], bool],
        names: Collection[str] | None = None,
    ) -> list[TaskRecord]:
        dead = await self._dead_holders(owner, is_dead)
        result: list[TaskRecord] = await self._batches.run(
            partial(owners.claim, owner=owner, lease=lease, limit=limit, dead=dead, names=names)
        )
        return result

    async def claim_task(
        self,
        task_id: str,
        owner: str,
        lease: float,
        *,
        is_dead: Callable[[str], bool],
        names: Collection[str] | None = None,
    ) -> TaskRecord | None:
        take = partial(owners.claim_task, task_id=task_id, owner=owner, lease=lease, names=names)
        record: TaskRecord | None = await self._batches.run(partial(take, dead=[]))
        if record is None:  # held by another: taken only if that one is known to be dead
            dead = await self._dead_holders(owner, is_dead, task_id)
            if dead:
                record = await self._batches.run(partial(take, dead=dead))
        return record

    async def _dead_holders(
        self, owner: str, is_dead: Callable[[str], bool], task_id: str | None = None
    ) -> list[str]:
        """The holders of live tasks (or of ``task_id``) known to be dead, read before the
        claim's transaction so that the claim runs in one statement (see :mod:`.session`);
        a holder that appears meanwhile is alive, having just written."""
        found = await self._database.run(partial(owners.holders, owner=owner, task_id=task_id))
        return [holder for holder in found if is_dead(holder)]

    async def start_limited(
        self, record: TaskRecord, *, owner: str, lease: float, limit: StartLimit
    ) -> Admission:
        start = partial(limits.start_limited, record=record, owner=owner, lease=lease, limit=limit)
        self._queued.barrier(record.id)
        result: Admission = await self._batches.run(start)
        return result

    async def release(self, owner: str, *, keep: frozenset[str] = frozenset()) -> int:
        result: int = await self._batches.run(partial(owners.release, owner=owner, keep=keep))
        return result

    async def release_task(self, task_id: str, owner: str) -> bool:
        result: bool = await self._batches.run(
            partial(owners.release_task, task_id=task_id, owner=owner)
        )
        return result

    async def request_cancel(self, task_id: str) -> TaskRecord | None:
        result: TaskRecord | None = await self._batches.run(
            partial(owners.request_cancel, task_id=task_id)
        )
        return result

    async def prune(
        self, before: datetime, *, states: frozenset[State] = FINISHED_STATES, limit: int = 500
    ) -> list[TaskRecord]:
        wanted = sorted(state.value for state in states & FINISHED_STATES)

        if not wanted:
            return []
        result: list[TaskRecord] = await self._batches.run(
            partial(prune.delete_finished, states=wanted, before=before, limit=limit)
        )
        return result

    async def take_due(
        self,
        owner: str,
        lease: float,
        *,
        now: datetime,
        limit: int,
        names: Collection[str] | None = None,
    ) -> list[TaskRecord]:
        async def take(conn: Session, sequence: Sequence) -> list[TaskRecord]:
            return await later.take_due(
                conn, sequence, owner=owner, lease=lease, now=now, limit=limit, names=names
            )

        result: list[TaskRecord] = await self._batches.run(take)
        return result

    async def advance_schedule(
        self,
        name: str,
        tick: datetime,
        run: TaskRecord | None,
        *,
        owner: str | None,
        lease: float,
    ) -> bool:
        async def advance(conn: Session, sequence: Sequence) -> bool:
            return await later.advance_schedule(
                conn, sequence, name=name, tick=tick, run=run, owner=owner, lease=lease
            )

        result: bool = await self._batches.run(advance)
        return result
