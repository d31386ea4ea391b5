"""One thread that owns a SQLite connection and runs operations for the event loop in batches.

It runs the store's reads, and the writes that ``loop_writer.py`` hands over while another
process holds the database. The event loop only puts an operation on a queue and awaits a
future, so it never waits on disk or on another process's lock. The thread takes everything
waiting in the queue and, if any of it writes, runs it in one transaction (group commit).
Each write of several statements runs in its own savepoint, so one that fails leaves the
others intact. A future resolves only after its transaction has committed. Once the file is
found corrupted (``corruption.py``), every batch is refused.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

from ...errors import StoreUnavailable
from .corruption import Corruption, is_corruption

__all__ = [
    "ConnectionThread",
    "Operation",
    "apply_operation",
    "refuse_batch",
    "refuse_corrupted",
    "settle",
]

log = logging.getLogger("tasks")

Operation = Callable[[sqlite3.Connection], Any]
_Item = tuple[Operation, "asyncio.Future[Any]", bool, bool]
_Outcome = tuple["asyncio.Future[Any]", Any, BaseException | None]


class ConnectionThread:
    """Runs :data:`Operation` callables on a private connection, in a thread of its own."""

    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        *,
        name: str,
        max_batch: int,
        on_write_batch: Callable[[], None],
        corruption: Corruption,
    ) -> None:
        self._connect = connect
        self._corruption = corruption
        self._name = name
        self._max_batch = max_batch
        self._on_write_batch = on_write_batch
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("the store is already open")
        self._loop = asyncio.get_running_loop()
        started: asyncio.Future[None] = self._loop.create_future()
        self._thread = threading.Thread(
            target=self._serve, args=(started,), name=self._name, daemon=True
        )
        self._thread.start()
        try:
            await started
        except BaseException:
            self._thread = None
            raise

    async def stop(self) -> None:
        """Finish what is queued, close the connection and end the thread."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._queue.put(None)
        await asyncio.to_thread(thread.join)

    async def run(self, operation: Operation, *, write: bool = False, single: bool = False) -> Any:
        """Run ``operation`` on the connection; ``write`` ones commit before this returns.

        ``single`` marks a write of one statement, which SQLite already undoes as a whole if
        it fails, so it needs no savepoint of its own.
        """
        if self._thread is None or self._loop is None:
            raise RuntimeError("the store is not open; call `await store.open()` first")
        future = self._loop.create_future()
        self._queue.put((operation, future, write, write and not single))
        return await future

    def put(self, item: _Item) -> None:
        """Queue an operation whose future the caller awaits (or not) itself."""
        self._queue.put(item)

    def _serve(self, started: asyncio.Future[None]) -> None:
        assert self._loop is not None
        loop = self._loop
        try:
            conn = self._connect()
        except Exception as exc:
            error: Exception = exc
            if self._corruption.note(exc):
                error = self._corruption.refusal()
                error.__cause__ = exc
            failed: list[_Outcome] = [(started, None, error)]
            loop.call_soon_threadsafe(settle, failed)
            return
        ready: list[_Outcome] = [(started, None, None)]
        loop.call_soon_threadsafe(settle, ready)
        try:
            while (batch := self._next_batch()) is not None:
                loop.call_soon_threadsafe(settle, self._execute(conn, batch))
        finally:
            conn.close()

    def _next_batch(self) -> list[_Item] | None:
        first = self._queue.get()
        if first is None:
            return None
        batch = [first]
        while len(batch) < self._max_batch:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                self._queue.put(None)  # finish this batch, then stop
                break
            batch.append(item)
        return batch

    def _execute(self, conn: sqlite3.Connection, batch: list[_Item]) -> list[_Outcome]:
        if self._corruption.error is not None:
            return refuse_corrupted([future for _, future, _, _ in batch], self._corruption)
        writes = any(write for _, _, write, _ in batch)
        outcomes: list[_Outcome] = []
        try:
            if writes:
                conn.execute("BEGIN IMMEDIATE")
                self._on_write_batch()
            for operation, future, _, isolate in batch:
                outcomes.append(apply_operation(conn, operation, future, isolate))
            if writes:
                conn.execute("COMMIT")
        except sqlite3.Error as exc:
            futures = [future for _, future, _, _ in batch]
            return refuse_batch(conn, futures, exc, self._corruption)
        return outcomes


def refuse_batch(
    conn: sqlite3.Connection,
    futures: list[asyncio.Future[Any]],
    exc: sqlite3.Error,
    corruption: Corruption,
) -> list[_Outcome]:
    """Undo a batch that the database refused, and fail each of its operations as
    :class:`~tasks.errors.StoreUnavailable` (a ``503``), whatever the SQLite error: a busy,
    full, read-only or corrupted database is the store failing, not the request. A
    corrupted one stays refused (``corruption.py``)."""
    try:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
    except sqlite3.Error as rollback:  # SQLite may have undone it already
        log.debug("task store rollback failed: %s", rollback)
    if corruption.note(exc):
        return refuse_corrupted(futures, corruption, exc)
    log.error("task store transaction failed (%s); %d operations refused", exc, len(futures))
    error = StoreUnavailable(f"the task store is unavailable ({exc}); retry shortly")
    error.__cause__ = exc
    return [(future, None, error) for future in futures]


def refuse_corrupted(
    futures: list[asyncio.Future[Any]], corruption: Corruption, cause: BaseException | None = None
) -> list[_Outcome]:
    """Fail each operation because the file is corrupted; logged once, when it was found."""
    outcomes: list[_Outcome] = []
    for future in futures:
        error = corruption.refusal()  # one each: a shared one would pile up tracebacks
        error.__cause__ = cause
        outcomes.append((future, None, error))
    return outcomes


#: what the database says of itself (busy, full, read-only, I/O, corrupted): it fails the
#: whole batch; other errors (a constraint, a bug) fail only the operation that met them
_STORE_FAULTS = (sqlite3.OperationalError, sqlite3.DatabaseError)


def apply_operation(
    conn: sqlite3.Connection, operation: Operation, future: asyncio.Future[Any], isolate: bool
) -> _Outcome:
    if isolate:
        conn.execute("SAVEPOINT operation")
    try:
        value = operation(conn)
    except sqlite3.Error as exc:
        if type(exc) in _STORE_FAULTS or is_corruption(exc):
            raise  # the batch is refused as a whole
        if isolate:
            conn.execute("ROLLBACK TO operation")
            conn.execute("RELEASE operation")
        return (future, None, exc)
    except Exception as exc:
        if isolate:
            conn.execute("ROLLBACK TO operation")
            conn.execute("RELEASE operation")
        return (future, None, exc)
    if isolate:
        conn.execute("RELEASE operation")
    return (future, value, None)


def settle(outcomes: list[_Outcome]) -> None:
    for future, value, error in outcomes:
        if future.cancelled():
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)
