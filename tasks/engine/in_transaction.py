"""Submissions stored in the caller's own database transaction (``connection=``).

::

    async with conn.transaction():
        await conn.execute("INSERT INTO orders ...")
        await send_confirmation.options(connection=conn).submit(order_id)

The record is written on the caller's connection, so it exists exactly when the caller's
other writes do: if the transaction rolls back, no task exists and nothing runs; workers
see it only once it commits (the commit wakes them). Nobody holds it: whichever runner
claims it first runs it, as it would a task stored for workers. Nothing is dispatched or
announced here, since nothing is known to be stored until the caller commits; and it is
nobody's child, even when a running task submits it.

Only a store with :class:`~tasks.store.WritesInTransaction` can do this (PostgreSQL).
"""

from __future__ import annotations

from typing import Any, Protocol

from .. import tracing
from ..definition import TaskDefinition
from ..errors import InvalidOptions, Unavailable
from ..idempotency import Submitted, replay
from ..options import SubmitOptions
from ..records import State, TaskRecord
from ..registry import Registry
from ..store import Store, WritesInTransaction
from . import delays
from .intake import new_record

__all__ = ["accept", "check_room", "joinable", "make", "store_sync"]


class _Runner(delays.Runs, Protocol):
    """What a submission in a transaction needs of the runner."""

    @property
    def registry(self) -> Registry: ...

    @property
    def store(self) -> Store: ...

    def refusal(self) -> Unavailable | None: ...

    def counted(self, record: TaskRecord) -> None: ...


def joinable(store: Store) -> WritesInTransaction:
    """``store``, if it can write in its callers' transactions; else ``InvalidOptions``."""
    if not isinstance(store, WritesInTransaction):
        raise InvalidOptions(
            f"connection= needs a task store that can join your transaction (PostgreSQL); "
            f"this one is a {type(store).__name__}: submit without connection=, or use a "
            "postgresql:// store"
        )
    return store


def make(
    runner: _Runner, definition: TaskDefinition, arguments: dict[str, Any], options: SubmitOptions
) -> TaskRecord:
    """Make the record of a submission of checked ``arguments``, held by nobody, without
    storing it; refused as any submission is (shutting down, a full queue). A delayed one
    still needs :func:`check_room`.

    Safe from any thread: it only reads the runner's counters, which a submission racing it
    may leave a moment stale, as it would on the runner's own loop.
    """
    joinable(runner.store)
    record = new_record(definition, arguments, options)
    if record.state is not State.SCHEDULED and (refusal := runner.refusal()) is not None:
        raise refusal  # shutting down, or the queue is full
    producer = tracing.start_producer(definition.name)  # None unless the app traces
    if producer is not None:
        record = tracing.produced(producer, record)
        tracing.end_producer(producer)
    return record


async def check_room(runner: _Runner, record: TaskRecord) -> None:
    """Refuse a delayed task with too many already waiting for their time."""
    if record.state is State.SCHEDULED:
        await delays.check_room(runner)


def _outcome(record: TaskRecord, existing: TaskRecord | None) -> Submitted:
    """What storing ``record`` came to: it, or the replay of the task with its key."""
    if existing is None:
        return Submitted(record)
    return replay(record.name, record.kwargs, existing)


async def accept(
    runner: _Runner, definition: TaskDefinition, arguments: dict[str, Any], options: SubmitOptions
) -> Submitted:
    """Store a task in the transaction open on ``options.connection`` (an async driver
    connection); its record, or, with a key a task already has, that task's."""
    record = make(runner, definition, arguments, options)
    await check_room(runner, record)
    existing = await joinable(runner.store).create_in(options.connection, record)
    if existing is None:
        runner.counted(record)
    return _outcome(record, existing)


def store_sync(runner: _Runner, record: TaskRecord, connection: object) -> Submitted:
    """Store a record made by :func:`make` in the transaction open on ``connection`` (a
    synchronous driver connection), from the caller's thread; as :func:`accept` answers,
    except that the caller counts a stored one (``runner.counted``)."""
    existing = joinable(runner.store).create_in_sync(connection, record)
    return _outcome(record, existing)
