"""SQLite writes on the event loop's own thread: one transaction per loop iteration.

Writes queued during an iteration commit together at the start of the next one, on a
connection the loop owns. A write handed to another thread instead waits for the GIL at
every statement, up to a switch interval (5 ms) each while the loop is busy: under load,
tasks then starve. In WAL mode with ``synchronous=NORMAL`` a commit appends to the log
without an fsync, so it is short. The two things that could block the loop stay off it:

- checkpoints (which fsync) run on a thread of their own (:class:`Checkpointer`);
- the loop's connection never waits for a lock (busy timeout 0): when another process
  holds the database, the batch goes to the store's thread, which waits, and the batches
  after it follow it there until it has committed, so that writes stay in order.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from .connection import (
    ConnectionThread,
    Operation,
    apply_operation,
    refuse_batch,
    refuse_corrupted,
    settle,
)
from .corruption import Corruption, quick_check

__all__ = ["Checkpointer", "LoopWriter"]

log = logging.getLogger("tasks")

#: committed batches between two checkpoints (SQLite's own default is every 1000 pages)
CHECKPOINT_EVERY = 100
#: seconds between two checks of the file for damage (``PRAGMA quick_check``), at least
CHECK_EVERY = 15.0
#: the largest share of the time spent checking: a check that took 2 s waits 200 s
CHECK_SHARE = 0.01

_Item = tuple[Operation, "asyncio.Future[Any]", bool, bool]
T = TypeVar("T")


class LoopWriter:
    """Batches write operations and commits them on the event loop's thread."""

    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        thread: ConnectionThread,
        checkpointer: Checkpointer,
        *,
        on_write_batch: Callable[[], None],
        before_flush: Callable[[], None],
        corruption: Corruption,
    ) -> None:
        self._connect = connect
        self._corruption = corruption
        self._thread = thread
        self._checkpointer = checkpointer
        self._on_write_batch = on_write_batch
        self._before_flush = before_flush
        self._conn: sqlite3.Connection | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: list[_Item] = []
        self._deferred = 0  # batches sent to the thread that have not committed yet
        self._batches = 0

    def open(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._conn = self._connect()

    def close(self) -> None:
        """Commit what is pending, then close the connection."""
        self._flush()
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def read_now(self, operation: Callable[[sqlite3.Connection], T]) -> T | None:
        """Run a short read on the loop's connection, at once, between two batches; None
        (read on the store's thread instead) if that connection cannot: closed, the file
        damaged, or SQLite busy. In WAL mode a read waits for no writer."""
        if self._conn is None or self._corruption.error is not None:
            return None
        try:
            return operation(self._conn)
        except sqlite3.Error:
            return None

    def submit(self, operation: Operation, *, single: bool) -> asyncio.Future[Any]:
        """Queue a write; its future resolves once it has committed.

        ``single`` marks one statement, which SQLite undoes as a whole if it fails, so it
        needs no savepoint of its own.
        """
        if self._conn is None or self._loop is None:
            raise RuntimeError("the store is not open; call `await store.open()` first")
        future = self._loop.create_future()
        self._pending.append((operation, future, True, not single))
        if len(self._pending) == 1:
            self._loop.call_soon(self._flush)
        return future

    def _flush(self) -> None:
        if not self._pending or self._conn is None:
            return
        self._before_flush()
        batch, self._pending = self._pending, []
        if self._corruption.error is not None:
            settle(refuse_corrupted(_futures(batch), self._corruption))
            return
        if self._deferred:
            self._defer(batch)
            return
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY:
                self._defer(batch)  # another process writes: wait for it off the loop
                return
            settle(refuse_batch(conn, _futures(batch), exc, self._corruption))
            return
        except sqlite3.Error as exc:
            settle(refuse_batch(conn, _futures(batch), exc, self._corruption))
            return
        try:
            self._on_write_batch()
            outcomes = [apply_operation(conn, op, future, iso) for op, future, _, iso in batch]
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            settle(refuse_batch(conn, _futures(batch), exc, self._corruption))
            return
        settle(outcomes)
        self._batches += 1
        if self._batches % CHECKPOINT_EVERY == 0:
            self._checkpointer.request()

    def _defer(self, batch: list[_Item]) -> None:
        assert self._loop is not None
        self._deferred += 1
        for item in batch:
            self._thread.put(item)
        fence: asyncio.Future[None] = self._loop.create_future()
        fence.add_done_callback(self._fence_passed)
        self._thread.put((_nothing, fence, True, False))  # runs after the batch has committed

    def _fence_passed(self, _: asyncio.Future[None]) -> None:
        self._deferred -= 1


def _nothing(_: sqlite3.Connection) -> None:
    return None


def _futures(batch: list[_Item]) -> list[asyncio.Future[Any]]:
    return [future for _, future, _, _ in batch]


class Checkpointer:
    """Copies the write-ahead log into the database on a thread and connection of its own,
    and checks the file for damage there too: at open, then every :data:`CHECK_EVERY` s.

    The check catches corruption in pages that requests seldom read, which would otherwise
    stay unnoticed (and health ok) until one happens to. It reads the whole file, so it is
    spaced to take at most :data:`CHECK_SHARE` of the time; it is off the loop, and in WAL
    mode it blocks neither reads nor writes.
    """

    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        *,
        name: str,
        corruption: Corruption,
    ) -> None:
        self._connect = connect
        self._name = name
        self._corruption = corruption
        self._due = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._serve, name=self._name, daemon=True)
        self._thread.start()

    def request(self) -> None:
        self._due.set()

    async def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stopping = True
        self._due.set()
        await asyncio.to_thread(thread.join)

    def _serve(self) -> None:
        try:
            conn = self._connect()
        except sqlite3.Error as exc:
            if not self._corruption.note(exc):
                log.error("task store checkpoints are off: cannot open the database (%s)", exc)
            return
        next_check = time.monotonic()
        try:
            while self._corruption.error is None:  # a damaged file is written no more
                due = self._due.wait(max(0.0, next_check - time.monotonic()))
                self._due.clear()
                if self._stopping or self._corruption.error is not None:
                    return
                if due:
                    self._checkpoint(conn)
                if time.monotonic() >= next_check:
                    began = time.monotonic()
                    self._check(conn)
                    spent = time.monotonic() - began
                    next_check = time.monotonic() + max(CHECK_EVERY, spent / CHECK_SHARE)
        finally:
            conn.close()

    def _checkpoint(self, conn: sqlite3.Connection) -> None:
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as exc:
            if not self._corruption.note(exc):
                log.warning("task store checkpoint failed (%s); trying again later", exc)

    def _check(self, conn: sqlite3.Connection) -> None:
        try:
            quick_check(conn, self._corruption)
        except sqlite3.Error as exc:
            log.warning("task store file check failed (%s); trying again later", exc)
