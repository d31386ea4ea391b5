"""Group commit for the PostgreSQL store, and the store-wide sequence of changes.

Writes queued while a transaction runs share the next one, so under load many writes pay
for one commit. Each write is an :data:`Operation`: an async function that runs its
statements on the transaction's connection and numbers the rows it changes with
:meth:`Sequence.take`. The connection is in pipeline mode: an operation that needs no
result before the others run returns a :class:`Later`, read once every operation has been
sent, so that a batch costs a few round trips to the server whatever its size. Operations
report outcomes (a duplicate id, a lost hold) as return values rather than SQL errors, so
one of them cannot undo the others; if a batch fails on an unexpected SQL error, each of
its operations is retried in a transaction of its own.

**Sequence numbers in commit order.** Every write transaction starts by locking the single
row of the ``quart_tasks_store`` table (``SELECT ... FOR UPDATE``), takes its numbers from
the counter there, and writes the counter back before it commits. The row lock makes write
transactions from all processes run one after another, and PostgreSQL makes a transaction
visible before it releases its locks. So the numbers readers see always form a prefix: a
number is never seen before a smaller one, and a reader that resumes "after N" cannot skip
a change that commits late (as it could with a ``bigserial`` assigned at insert). A write
that turns out to change nothing leaves its number unused: numbers only ever increase. The same
statement that writes the counter back sends ``NOTIFY``, delivered when the transaction
commits, which wakes the change listeners of every process; a transaction that leaves tasks
free to claim (stored or handed back held by nobody, or stored for later) also notifies
:data:`WORK_CHANNEL`, which wakes the workers that take their tasks from the store.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg

from .pool import Connection, Database

__all__ = ["CHANNEL", "WORK_CHANNEL", "Later", "Operation", "Sequence", "WriteBatches"]

log = logging.getLogger("tasks")

#: the ``LISTEN``/``NOTIFY`` channel that announces committed changes
CHANNEL = "quart_tasks_changes"
#: the channel that announces tasks left free to claim (see :attr:`Sequence.work`)
WORK_CHANNEL = "quart_tasks_work"


class Sequence:
    """The numbers one transaction hands out, after the last committed one."""

    def __init__(self, last: int) -> None:
        self.committed = last
        self.last = last
        #: set by an operation that leaves a task free to claim, or stores one for later
        self.work = False

    def take(self, count: int = 1) -> list[int]:
        numbers = list(range(self.last + 1, self.last + count + 1))
        self.last += count
        return numbers


class Later:
    """An operation's result, read after the whole batch has been sent."""

    __slots__ = ("read",)

    def __init__(self, read: Callable[[], Awaitable[Any]]) -> None:
        self.read = read


Operation = Callable[[Connection, Sequence], Awaitable[Any]]
_Item = tuple[Operation, "asyncio.Future[Any]"]


class WriteBatches:
    """Runs write operations in shared transactions, one transaction at a time."""

    def __init__(self, database: Database, *, max_batch: int) -> None:
        self._database = database
        self._max_batch = max_batch
        self._queue: deque[_Item] = deque()
        self._pending = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._closing = False
        #: called each time queued writes are taken into a transaction
        self.on_batch: Callable[[], None] | None = None

    def start(self) -> None:
        self._writer = asyncio.get_running_loop().create_task(self._serve())

    async def stop(self) -> None:
        """Commit what is queued, then end the writer."""
        writer, self._writer = self._writer, None
        if writer is None:
            return
        self._closing = True
        self._pending.set()
        await writer

    async def run(self, operation: Operation) -> Any:
        """Run ``operation`` in the next transaction; returns once that has committed."""
        return await self.submit(operation)

    def submit(self, operation: Operation) -> asyncio.Future[Any]:
        """Queue ``operation`` for the next transaction, after every one queued before it;
        its future resolves once that transaction has committed."""
        if self._writer is None:
            raise RuntimeError("the store is not open; call `await store.open()` first")
        future = asyncio.get_running_loop().create_future()
        self._queue.append((operation, future))
        self._pending.set()
        return future

    async def _serve(self) -> None:
        while True:
            await self._pending.wait()
            self._pending.clear()
            while self._queue:
                count = min(len(self._queue), self._max_batch)
                batch = [self._queue.popleft() for _ in range(count)]
                if self.on_batch is not None:
                    self.on_batch()
                # a caller that gave up before its write began: nothing is written for it
                batch = [item for item in batch if not item[1].cancelled()]
                if batch:
                    await self._commit(batch)
            if self._closing:
                return

    async def _commit(self, batch: list[_Item]) -> None:
        try:
            results = await self._transaction([operation for operation, _ in batch])
        except asyncio.CancelledError:
            raise
        except psycopg.Error as exc:
            if len(batch) > 1 and not isinstance(exc, psycopg.OperationalError):
                log.warning(
                    "a batch of %d task store writes failed (%s); retrying each", len(batch), exc
                )
                for item in batch:
                    await self._commit([item])
                return
            _settle([(future, None, exc) for _, future in batch])
        except Exception as exc:
            _settle([(future, None, exc) for _, future in batch])
        else:
            _settle(
                [(future, result, None) for (_, future), result in zip(batch, results, strict=True)]
            )

    async def _transaction(self, operations: list[Operation]) -> list[Any]:
        # pipeline mode: statements whose results are not read yet go out together
        async with self._database.connection() as conn, conn.pipeline(), conn.transaction():
            cursor = await conn.execute("SELECT seq FROM quart_tasks_store FOR UPDATE")
            row = await cursor.fetchone()
            assert row is not None, "the store row is created with the schema"
            sequence = Sequence(row[0])
            sent = [await operation(conn, sequence) for operation in operations]
            results = [await r.read() if isinstance(r, Later) else r for r in sent]
            if sequence.last != sequence.committed:
                work = ", pg_notify(%s, '')" if sequence.work else ""
                await conn.execute(
                    "WITH counter AS (UPDATE quart_tasks_store SET seq = %s RETURNING seq) "
                    f"SELECT pg_notify(%s, seq::text){work} FROM counter",
                    (sequence.last, CHANNEL, *([WORK_CHANNEL] if sequence.work else [])),
                )
            return results


def _settle(outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    for future, value, error in outcomes:
        if future.cancelled():
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)
