"""Submitting tasks from synchronous code: a Flask view, a script, a cron job.

::

    from tasks import Producer

    producer = Producer(registry, database="sqlite:///instance/tasks.sqlite3")
    record = producer.submit(send_report, user_id=7)
    record = producer.submit(send_report.options(delay=60), user_id=7)
    producer.get(record.id)

    with psycopg.connect(url) as conn, conn.transaction():    # PostgreSQL
        conn.execute("INSERT INTO orders ...")
        producer.submit(send_confirmation, order_id=7, connection=conn)

A producer never runs a task: it checks the arguments as the HTTP API does, stores the task
held by nobody, and returns its record once it is durable. A ``quart tasks worker`` (or a
Quart server sharing the store) runs it: on PostgreSQL it hears of it at once
(``LISTEN``/``NOTIFY``), on SQLite within a quarter of a second. With ``connection=``, the
record is written in the transaction open on that connection, in the caller's thread: it
exists, and workers hear of it, only once the caller commits (see
:mod:`tasks.engine.in_transaction`).

Inside, each process has one event loop of the producer's own, in a daemon thread, started on
the first call (so a producer made before a WSGI server forks its workers starts afresh in
each), with a store and a runner that hands every submission on to the workers. Every
method may be called from any thread at once.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Coroutine
from dataclasses import replace
from inspect import signature
from typing import Any, ParamSpec, TypeVar, overload

from .engine import in_transaction
from .engine.dispatch import ForWorkers
from .engine.runner import Runner
from .handle import TaskCall, TaskHandle, keyword_arguments
from .options import SubmitOptions
from .records import State, TaskRecord
from .registry import Registry
from .store import Store, store_from_url

__all__ = ["Producer"]

P = ParamSpec("P")
T = TypeVar("T")

#: seconds a call waits for the store before it gives up (``TimeoutError``)
CALL_TIMEOUT = 30.0


class Producer:
    """Submits the tasks of ``registry`` to the store at ``database`` (a SQLite path or
    ``sqlite:///…``, or ``postgresql://…``), for workers to run.

    ``max_queued`` bounds the tasks waiting in the store, as ``TASKS_MAX_QUEUED`` does for a
    web process: past it :meth:`submit` raises :class:`~tasks.QueueFull`.
    """

    def __init__(
        self,
        registry: Registry,
        *,
        database: str,
        max_queued: int = 100_000,
        poll_interval: float = 1.0,
        timeout: float = CALL_TIMEOUT,
    ) -> None:
        store_from_url(database)  # a location it cannot use is refused here, not later
        self.registry = registry
        self.database = database
        self.max_queued = max_queued
        self.poll_interval = poll_interval
        self.timeout = timeout
        self._lock = threading.Lock()
        self._started: _Started | None = None

    @overload
    def submit(
        self, task: TaskHandle[P, Any] | TaskCall[P], /, *args: P.args, **kwargs: P.kwargs
    ) -> TaskRecord: ...

    @overload
    def submit(
        self,
        task: TaskHandle[P, Any] | TaskCall[P],
        /,
        *args: Any,
        connection: object,
        **kwargs: Any,
    ) -> TaskRecord: ...

    def submit(
        self, task: TaskHandle[Any, Any] | TaskCall[Any], /, *args: Any, **kwargs: Any
    ) -> TaskRecord:
        """Check the arguments, store the task, and return its record once it is durable.

        ``task`` is a registered task, or one with options (``send_report.options(delay=60,
        key="report-7")``). Raises :class:`~tasks.InvalidArguments` before anything is
        stored if the arguments do not fit; with a ``key`` a task already has, that task's
        record comes back (the same arguments) or :class:`~tasks.IdempotencyConflict` is
        raised (other arguments). A store that does not answer within ``timeout`` seconds
        raises ``TimeoutError``, and the task may still be stored: submit with a ``key`` to
        try again safely.

        With ``connection=conn`` (an open ``psycopg.Connection``, PostgreSQL), the task is
        stored in the transaction open on it: it exists only if that transaction commits,
        and workers see it only then. A task with a parameter of that name takes it as its
        argument instead: give ``task.options(connection=conn)`` then (type checkers check
        the task's arguments in that spelling too).
        """
        definition = task.definition
        options = task.options if isinstance(task, TaskCall) else SubmitOptions()
        if "connection" in kwargs and "connection" not in signature(definition.func).parameters:
            options = replace(options, connection=kwargs.pop("connection"))
        arguments = keyword_arguments(definition, args, kwargs)
        if options.connection is not None:
            return self._submit_in(definition.name, arguments, options)
        return self._call(lambda runner: runner.submit(definition.name, arguments, options))

    def _submit_in(
        self, name: str, arguments: dict[str, Any], options: SubmitOptions
    ) -> TaskRecord:
        """Store in the caller's transaction, on its connection, from its own thread."""
        definition = self.registry.get(name)
        checked = definition.validate(arguments)
        started = self._start()
        record = in_transaction.make(started.runner, definition, checked, options)
        if record.state is State.SCHEDULED:  # counting those waiting takes the store
            started.run(in_transaction.check_room(started.runner, record), self.timeout)
        submitted = in_transaction.store_sync(started.runner, record, options.connection)
        if not submitted.replayed:
            started.runner.counted(record)  # ForWorkers: a count safe from any thread
        return submitted.record

    def get(self, task_id: str) -> TaskRecord:
        """The task's record as stored now; :class:`~tasks.TaskNotFound` if there is none."""
        return self._call(lambda runner: runner.get(task_id))

    def close(self) -> None:
        """Let go of the store and stop the producer's thread (a later call starts them
        again)."""
        with self._lock:
            started, self._started = self._started, None
        if started is not None and started.pid == os.getpid():
            started.stop(self.timeout)

    def __enter__(self) -> Producer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _call(self, make: Callable[[Runner], Coroutine[Any, Any, T]]) -> T:
        started = self._start()
        future = asyncio.run_coroutine_threadsafe(make(started.runner), started.loop)
        result: T = future.result(self.timeout)
        return result

    def _start(self) -> _Started:
        with self._lock:
            started = self._started
            if started is None or started.pid != os.getpid():  # none yet, or forked since
                store = store_from_url(self.database)
                started = self._started = _Started(
                    Runner(
                        self.registry,
                        store,
                        max_queued=self.max_queued,
                        poll_interval=self.poll_interval,
                        claim=False,
                        holds=False,
                        dispatch=ForWorkers(store, poll_interval=self.poll_interval),
                    ),
                    store,
                )
                try:
                    started.start(self.timeout)
                except BaseException:
                    self._started = None  # the next call tries again
                    started.abandon()
                    raise
            return started


class _Started:
    """The producer's loop in one process: its thread, store and runner."""

    def __init__(self, runner: Runner, store: Store) -> None:
        self.pid = os.getpid()
        self.runner = runner
        self.store = store
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="tasks-producer", daemon=True
        )

    def start(self, timeout: float) -> None:
        self._thread.start()
        self.run(self._open(), timeout)

    def run(self, work: Coroutine[Any, Any, T], timeout: float) -> T:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout)

    async def _open(self) -> None:
        await self.store.open()
        await self.runner.start()

    async def _close(self) -> None:
        try:
            await self.runner.close()
        finally:
            await self.store.close()

    def abandon(self) -> None:
        """Stop the thread of a start that failed."""
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        if not self._thread.is_alive():
            self.loop.close()

    def stop(self, timeout: float) -> None:
        try:
            self.run(self._close(), timeout)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout)
            self.loop.close()
