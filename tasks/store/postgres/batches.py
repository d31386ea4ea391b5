"""Group commit for the PostgreSQL store, and the store-wide sequence of changes.

Writes queued while a transaction runs share the next one, so under load many writes pay
for one commit. Each write is an :data:`Operation`: an async function that runs its
statements on the transaction's connection and numbers the rows it changes with
:data:`NUMBERS`. An operation that needs no result before the batch ends returns a
:class:`Later`, read once the batch has committed; a batch of such operations is sent as one
query (see :mod:`.session`), and any other batch statement by statement in pipeline mode,
so that a batch costs one or a few round trips to the server whatever its size. Operations
report outcomes (a duplicate id, a lost hold) as return values rather than SQL errors, so
one of them cannot undo the others; if a batch fails on an unexpected SQL error, each of
its operations is retried in a transaction of its own.

**Sequence numbers in commit order.** Every write transaction first locks the single row
of the ``quart_tasks_store`` table, which holds the change counter; a statement that changes
rows numbers them from that counter, which it bumps in the same statement (:data:`NUMBERS`).
The row lock makes write transactions from all processes number their changes one after
another (and, being always the first lock taken, keeps them from deadlocking on the rows
they touch), and PostgreSQL makes a transaction visible before it releases its locks. So
the numbers readers see always form a prefix: a number is never seen before a smaller one,
and a reader that resumes "after N" cannot skip a change that commits late (as it could
with a ``bigserial`` assigned at insert). The lock is held without waiting on this process
where it can be: a batch sent as one query holds it for the server's own work only, so
that processes sharing the store do not wait on each other's round trips (a batch with an
operation that must read before it writes, as a cancel does, still waits for its answers). A write
that turns out to change nothing leaves its number unused: numbers only ever increase.
``NOTIFY``, delivered when the transaction commits, wakes the change listeners of every
process; a transaction that leaves tasks free to claim (stored or handed back held by
nobody, or stored for later) also notifies :data:`WORK_CHANNEL`, which wakes the workers
that take their tasks from the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus

from ...errors import StoreUnavailable
from .pool import Connection, Database
from .session import NeedsAnswers, Recorder, Session, send_all

__all__ = [
    "CHANNEL",
    "NUMBERS",
    "WORK_CHANNEL",
    "Later",
    "Operation",
    "OutcomeUnknown",
    "Sequence",
    "WriteBatches",
]

log = logging.getLogger("tasks")

#: the ``LISTEN``/``NOTIFY`` channel that announces committed changes
CHANNEL = "quart_tasks_changes"
#: the channel that announces tasks left free to claim (see :attr:`Sequence.work`)
WORK_CHANNEL = "quart_tasks_work"


#: a common table expression that reserves numbers for one statement's rows: the k-th row
#: (k from 1) gets ``numbers.base + k``; its parameters come from :meth:`Sequence.reserve`
NUMBERS = "numbers AS (UPDATE quart_tasks_store SET seq = seq + %s RETURNING seq - %s AS base)"


class Sequence:
    """What one transaction's statements have numbered, and whom its commit must wake."""

    def __init__(self) -> None:
        #: set once a statement of the transaction numbers its rows
        self.numbered = False
        #: set by an operation that leaves a task free to claim, or stores one for later
        self.work = False
        #: the owners whose lease this transaction has extended already
        self.leases: set[str] = set()

    def reserve(self, count: int = 1) -> tuple[int, int]:
        """The parameters of :data:`NUMBERS` for a statement that numbers ``count`` rows."""
        self.numbered = True
        return count, count


class Later:
    """An operation's result, read after the whole batch has been sent."""

    __slots__ = ("read",)

    def __init__(self, read: Callable[[], Awaitable[Any]]) -> None:
        self.read = read


class OutcomeUnknown(StoreUnavailable):
    """The store failed once a batch had been sent: it may have committed, the answer lost."""

    def __init__(
        self,
        reason: str,
        consequence: str = "the write may have been committed all the same (the answer was lost)",
    ) -> None:
        super().__init__(f"{reason}; {consequence}")
        #: why the store failed
        self.reason = reason


Operation = Callable[[Session, Sequence], Awaitable[Any]]
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
        self._sent = False  # whether the transaction in progress has been sent
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
        except _Committed as exc:
            _settle([(future, None, exc.__cause__ or exc) for _, future in batch])
        except StoreUnavailable as exc:
            lost = OutcomeUnknown(exc.message.removesuffix(_RETRY))
            _settle([(future, None, lost if self._sent else exc) for _, future in batch])
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
        self._sent = False
        async with self._database.connection() as conn:
            recorder = Recorder(conn)
            sequence = Sequence()
            try:
                sent = [await operation(recorder, sequence) for operation in operations]
            except NeedsAnswers:
                return await self._step_by_step(conn, operations)
            self._sent = True
            try:
                await send_all(conn, recorder, _LOCK, _closing(sequence))
            except BaseException:
                await _roll_back(conn)
                raise
            return await _results(sent)

    async def _step_by_step(self, conn: Connection, operations: list[Operation]) -> list[Any]:
        """Run the batch one statement at a time, in pipeline mode: statements whose results
        are not read yet go out together."""
        self._sent = True
        try:
            async with conn.pipeline() as pipeline:
                await conn.execute("BEGIN")
                await conn.execute(_LOCK)
                sequence = Sequence()
                sent = [await operation(conn, sequence) for operation in operations]
                for statement in _closing(sequence):
                    await conn.execute(statement)
                await conn.execute("COMMIT")
                await pipeline.sync()
        except BaseException:
            await _roll_back(conn)
            raise
        return await _results(sent)


_LOCK = "SELECT FROM quart_tasks_store FOR UPDATE"
_RETRY = "; retry shortly"  # how the pool's errors end


def _closing(sequence: Sequence) -> list[str]:
    """What a transaction sends after its operations: the notifications its commit sends."""
    if not sequence.numbered:
        return []
    calls = f"pg_notify('{CHANNEL}', seq::text)"
    if sequence.work:
        calls += f", pg_notify('{WORK_CHANNEL}', '')"
    return [f"SELECT {calls} FROM quart_tasks_store"]


async def _results(sent: list[Any]) -> list[Any]:
    """Each operation's result, reading those that are read once the batch has committed."""
    try:
        return [await r.read() if isinstance(r, Later) else r for r in sent]
    except psycopg.Error as exc:
        if isinstance(exc, psycopg.OperationalError):
            raise  # the store is unavailable: said as such by the pool
        raise _Committed(exc) from exc


class _Committed(Exception):
    """Reading a batch's results failed after it committed: it must not be written again."""


async def _roll_back(conn: Connection) -> None:
    """End a transaction that failed part way, so that its connection goes back clean."""
    if conn.info.transaction_status in (TransactionStatus.INTRANS, TransactionStatus.INERROR):
        with contextlib.suppress(psycopg.Error):  # a broken connection: the pool replaces it
            await conn.execute("ROLLBACK")


def _settle(outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    for future, value, error in outcomes:
        if future.cancelled():
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)
