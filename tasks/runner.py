"""The runner: accepts tasks, bounds how many run and wait, and drives each one to an end.

Accepted tasks wait in a bounded in-process queue of ids (their records are already in the
store). Whenever a slot is free, the next one is handed to ``spawn`` (in a Quart app,
``app.add_background_task``), which runs it after the response has gone out.

Each runner is an owner in the store: it holds the tasks it accepted or claimed under a
lease it renews, and it regularly claims live tasks that nobody holds (stored by another
process, released at a shutdown, or left by a process that died). See ``recovery.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Protocol, runtime_checkable

from . import cancellation, delays, recovery
from .attempt import Execution, run_attempt
from .errors import QueueFull, ShuttingDown, StoreUnavailable, TaskNotFound, Unavailable
from .idempotency import Submitted, check_key, replay
from .ownership import new_owner_id
from .progress import ProgressWriter
from .records import State, TaskRecord
from .registry import Registry
from .store import Store

__all__ = ["Runner", "Spawn"]

log = logging.getLogger("tasks")

#: Schedules a coroutine function to run in the background, e.g. ``app.add_background_task``.
Spawn = Callable[[Callable[[], Awaitable[None]]], None]
Listener = Callable[[TaskRecord], None]

#: seconds a slot runs tasks back to back before it lets the event loop do other work
SLOT_STEP = 0.0005


@runtime_checkable
class QueuesWrites(Protocol):
    """A store that can queue writes without a coroutine, committing them in call order."""

    def create_soon(
        self, record: TaskRecord, *, owner: str | None, lease: float
    ) -> asyncio.Future[TaskRecord | None]: ...

    def update_soon(self, record: TaskRecord, *, owner: str) -> asyncio.Future[bool]: ...


class Runner:
    """Runs registered tasks with bounded concurrency, timeouts, retries and cancellation."""

    def __init__(
        self,
        registry: Registry,
        store: Store,
        *,
        spawn: Spawn | None = None,
        max_running: int = 8,
        max_queued: int = 1000,
        max_scheduled: int = 100_000,
        progress_interval: float = 0.2,
        cancel_wait: float = 1.0,
        lease: float = 30.0,
        poll_interval: float = 1.0,
        claim: bool = True,
        host_id: str = "",
    ) -> None:
        if max_running < 1:
            raise ValueError(f"max_running must be at least 1, not {max_running}")
        if max_queued < 0:
            raise ValueError(f"max_queued must be 0 or more, not {max_queued}")
        if not 0 < poll_interval < lease:
            raise ValueError(f"poll_interval ({poll_interval}) must be above 0 and below the lease")
        self.registry = registry
        self.store = store
        self.owner = new_owner_id(host_id)
        self.max_running = max_running
        self.max_queued = max_queued
        self.max_scheduled = max_scheduled
        self.cancel_wait = cancel_wait
        self.lease = lease
        self.poll_interval = poll_interval
        self.claims = claim
        self._spawn = spawn or self._spawn_task
        self._own_tasks: set[asyncio.Task[None]] = set()
        self._submitting: set[asyncio.Future[Any]] = set()
        self._waiting: deque[str] = deque()
        self._queued: dict[str, TaskRecord] = {}  # records of waiting tasks, to skip a read
        self._reserved = 0  # submissions between the queue check and their enqueue
        self._running: dict[str, Execution] = {}
        self._retries: dict[str, asyncio.TimerHandle] = {}
        #: claimed records whose adoption failed (a store error); adopted again next round
        self.unadopted: list[TaskRecord] = []
        self._busy_threads: dict[str, asyncio.Future[Any]] = {}
        self._listeners: list[Listener] = []
        self._queues_writes = store if isinstance(store, QueuesWrites) else None
        self._writing = 0  # queued writes not yet committed
        self._accepting = False
        self._idle = asyncio.Event()
        self._idle.set()
        self.progress = ProgressWriter(self.write, progress_interval)
        self._loops: list[asyncio.Task[None]] = []

    # -- lifecycle --------------------------------------------------------------------

    async def start(self) -> None:
        """Claim what earlier processes left (unless ``claim=False``), then accept tasks."""
        self._accepting = True
        if self.claims:
            try:
                await recovery.claim(self)
            except StoreUnavailable as exc:  # the upkeep loop claims once the store is back
                log.warning("claiming at startup failed: %s", exc)
        loop = asyncio.get_running_loop()
        self._loops = [
            loop.create_task(self.progress.run()),
            loop.create_task(recovery.maintain(self)),
        ]

    async def drain(self) -> None:
        """Refuse new tasks and start no more; hand waiting ones back to the store.

        Running tasks go on. Waiting ones stay ``queued`` in the store, held by nobody, so
        that another live process or the next start runs them.
        """
        if not self._accepting:
            return
        self._accepting = False
        # Submissions already storing end enqueued, so that the release below hands them back.
        await asyncio.gather(*self._submitting, return_exceptions=True)
        for handle in self._retries.values():
            handle.cancel()
        self._retries.clear()
        handed_back = len(self._waiting)
        self._waiting.clear()
        self._queued.clear()
        await self._release(frozenset(self._running))
        log.info("draining: %d running, %d waiting handed back", len(self._running), handed_back)
        self._check_idle()

    async def close(self) -> None:
        """Drain, stop the runner's own tasks, and let go of everything it still holds.

        A task whose thread is still busy stays held until this process exits: it must not
        run twice at once. The next process claims it then.
        """
        await self.drain()
        for task in self._own_tasks:
            task.cancel()
        await asyncio.gather(*self._own_tasks, return_exceptions=True)
        for task in self._loops:
            task.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        await self.progress.flush()
        busy = frozenset(task_id for task_id, job in self._busy_threads.items() if not job.done())
        for task_id in busy:
            log.warning("task %s: its thread is still busy at shutdown; held until exit", task_id)
        await self._release(busy)

    async def _release(self, keep: frozenset[str]) -> None:
        try:
            await self.store.release(self.owner, keep=keep)
        except StoreUnavailable as exc:
            log.warning(
                "could not hand tasks back (%s); others claim them when the lease ends", exc
            )

    @property
    def accepting(self) -> bool:
        return self._accepting

    @property
    def running(self) -> int:
        return len(self._running)

    @property
    def waiting(self) -> int:
        """Tasks held here that are not running: queued, due for a retry, or being stored."""
        return len(self._waiting) + len(self._retries) + self._reserved

    @property
    def capacity(self) -> int:
        """How many more tasks the waiting queue can take."""
        return max(0, self.max_queued - len(self._waiting) - self._reserved)

    def refusal(self) -> Unavailable | None:
        """Why a task submitted now would be refused (shutting down, queue full), or None."""
        if not self._accepting:
            return ShuttingDown("the server is shutting down and takes no new tasks; retry shortly")
        if self.capacity == 0:
            return QueueFull(
                f"{self.max_queued} tasks are already waiting; "
                "retry later or raise TASKS_MAX_QUEUED"
            )
        return None

    async def join(self) -> None:
        """Wait until nothing is running, waiting or due for a retry."""
        await self._idle.wait()

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` with every record this runner writes; returns an unsubscribe."""
        self._listeners.append(listener)
        return partial(self._listeners.remove, listener)

    # -- the public operations ----------------------------------------------------------

    async def submit(
        self,
        name: str,
        kwargs: dict[str, Any] | None = None,
        *,
        timeout: float | None = None,
        retries: int | None = None,
        enqueue: bool = True,
        delay: float | timedelta | None = None,
        at: datetime | None = None,
        key: str | None = None,
    ) -> TaskRecord:
        """Check, store and enqueue a task; return its record once it is durable.

        With ``enqueue=False`` the task is stored ``queued`` and held by nobody: whichever
        runner sharing the store claims it first runs it. With ``delay`` (seconds) or ``at``
        (a moment with its offset) still to come, it is stored ``scheduled`` (see
        ``delays.py``). With ``key``, a task that already has that idempotency key is
        returned instead of a new one (see :meth:`accept`, which also says which happened).
        """
        submitted = await self.accept(
            name,
            kwargs,
            timeout=timeout,
            retries=retries,
            enqueue=enqueue,
            delay=delay,
            at=at,
            key=key,
        )
        return submitted.record

    async def accept(
        self,
        name: str,
        kwargs: dict[str, Any] | None = None,
        *,
        timeout: float | None = None,
        retries: int | None = None,
        enqueue: bool = True,
        delay: float | timedelta | None = None,
        at: datetime | None = None,
        key: str | None = None,
    ) -> Submitted:
        """:meth:`submit`, saying whether the idempotency key made it a replay.

        A replay (the key's task has the same name and arguments) returns that task; other
        arguments raise ``IdempotencyConflict``.
        """
        definition = self.registry.get(name)
        arguments = definition.validate(kwargs or {})
        definition.check_options(timeout, retries)
        record = TaskRecord.new(
            name,
            arguments,
            max_attempts=1 + (definition.retries.retries if retries is None else retries),
            timeout=definition.timeout if timeout is None else timeout,
        )
        due = delays.run_at(record.created_at, delay=delay, at=at)
        later = due is not None and due > record.created_at
        enqueue = enqueue and not later
        if later:
            await delays.check_room(self)
        elif enqueue and (refusal := self.refusal()) is not None:
            raise refusal
        record = record.replace(
            state=State.SCHEDULED if later else State.QUEUED,
            run_at=due,
            idempotency_key=None if key is None else check_key(key),
            owner=self.owner if enqueue else None,
        )
        # Storing and enqueueing happen apart from the caller, which only awaits them through
        # a shield: a client that goes away cancels the request during the insert, which
        # commits anyway, and a record that is stored must also be scheduled.
        self._reserved += enqueue
        if self._queues_writes is not None:
            stored: asyncio.Future[Any] = self._queues_writes.create_soon(
                record, owner=record.owner, lease=self.lease
            )
        else:
            stored = asyncio.ensure_future(
                self.store.create(record, owner=record.owner, lease=self.lease)
            )
        self._submitting.add(stored)
        stored.add_done_callback(partial(self._stored, record, enqueue))
        existing = await asyncio.shield(stored)  # its callbacks, so the enqueue, have run by now
        if existing is not None:
            return replay(name, arguments, existing)
        return Submitted(record)

    def _stored(self, record: TaskRecord, enqueue: bool, stored: asyncio.Future[Any]) -> None:
        self._submitting.discard(stored)
        self._reserved -= enqueue
        if stored.cancelled() or stored.exception() is not None or stored.result() is not None:
            return  # not stored (or a replay); the caller, if still there, gets the outcome
        self._notify(record)
        if enqueue:
            self.enqueue(record)

    async def get(self, task_id: str) -> TaskRecord:
        record = await self.store.get(task_id)
        if record is None:
            raise TaskNotFound(f"no task has the id {task_id!r}")
        return record

    async def wait(self, task_id: str, *, poll_interval: float = 0.5) -> TaskRecord:
        """Wait until the task reaches a terminal state and return its final record.

        Writes by this runner wake the wait at once; the store is also read every
        ``poll_interval`` seconds, for tasks that another process runs.
        """
        changed = asyncio.Event()

        def on_write(record: TaskRecord) -> None:
            if record.id == task_id:
                changed.set()

        unsubscribe = self.subscribe(on_write)
        try:
            while True:
                changed.clear()
                record = await self.get(task_id)
                if record.state.terminal:
                    return record
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(poll_interval):
                        await changed.wait()
        finally:
            unsubscribe()

    async def cancel(self, task_id: str) -> TaskRecord:
        """Cancel a waiting or running task, here or in another process sharing the store.

        Waits up to ``cancel_wait`` seconds for the task to end, then returns its record;
        ``TaskAlreadyFinished`` if it had already ended.
        """
        return await cancellation.cancel(self, task_id)

    # -- scheduling ---------------------------------------------------------------------

    def enqueue(self, task: TaskRecord | str) -> None:
        """Queue a task this runner holds (its record, or its id); it starts when a slot is free."""
        if not self._accepting:
            return  # drain() or close() hands every task this runner holds back to the store
        if isinstance(task, TaskRecord):
            self._queued[task.id] = task
            task = task.id
        self._waiting.append(task)
        self._idle.clear()
        self._pump()

    def _pump(self) -> None:
        while self._accepting and self._waiting and len(self._running) < self.max_running:
            execution = Execution(self._waiting.popleft())
            self._running[execution.task_id] = execution
            self._spawn(partial(self._run, execution))

    def _spawn_task(self, func: Callable[[], Awaitable[None]]) -> None:
        async def call() -> None:
            await func()

        task = asyncio.get_running_loop().create_task(call())
        self._own_tasks.add(task)
        task.add_done_callback(self._own_tasks.discard)

    async def _run(self, execution: Execution) -> None:
        """Run ``execution``, then in the same slot what waits next, until the queue is empty.

        Tasks that never wait (a no-op, or one whose writes the store queues) would otherwise
        run one per slot per loop iteration while requests fill the queue. The slot yields
        to the loop after ``SLOT_STEP`` seconds of running tasks back to back.
        """
        loop = asyncio.get_running_loop()
        step_began = loop.time()
        try:
            while True:
                try:
                    await self._execute(execution)
                finally:
                    del self._running[execution.task_id]
                    self.progress.forget(execution)
                if not (self._accepting and self._waiting):
                    return
                if loop.time() - step_began > SLOT_STEP:
                    await asyncio.sleep(0)
                    step_began = loop.time()
                    if not (self._accepting and self._waiting):
                        return
                execution = Execution(self._waiting.popleft())
                self._running[execution.task_id] = execution
        finally:
            self._pump()
            self._check_idle()

    async def _execute(self, execution: Execution) -> None:
        try:
            record = self._queued.pop(execution.task_id, None)
            if record is None:
                record = await self.store.get(execution.task_id)
            if record is None or record.owner != self.owner or record.state is not State.QUEUED:
                return  # cancelled, finished or taken over while it waited
            if record.cancel_requested:
                await self.write(record.finished(State.CANCELLED))
                return
            retry_in = await run_attempt(self, execution, record)
            if retry_in is not None:
                self._schedule_retry(execution.task_id, retry_in)
        except StoreUnavailable as exc:
            log.warning("task %s: its record could not be written: %s", execution.task_id, exc)
        except asyncio.CancelledError:
            job = execution.thread_job
            if job is not None and not job.done():
                self._busy_threads[execution.task_id] = job
                job.add_done_callback(lambda _: self._busy_threads.pop(execution.task_id, None))
            raise

    def _schedule_retry(self, task_id: str, delay: float) -> None:
        if not self._accepting:
            return  # drain() handed the queued record back to the store
        loop = asyncio.get_running_loop()
        self._retries[task_id] = loop.call_later(delay, self._retry_due, task_id)

    def _retry_due(self, task_id: str) -> None:
        if self._retries.pop(task_id, None) is not None:
            self.enqueue(task_id)

    def _check_idle(self) -> None:
        if not (self._waiting or self._running or self._retries or self._writing):
            self._idle.set()

    # -- record writes --------------------------------------------------------------------

    async def write_soon(self, record: TaskRecord) -> bool:
        """Write like :meth:`write`, without waiting for the commit if the store can queue it.

        Listeners hear of the record once it has committed. True unless a store that cannot
        queue writes says that this runner no longer holds the task.
        """
        if self._queues_writes is None:
            return await self.write(record)
        if record.state.terminal and record.owner is not None:
            record = record.replace(owner=None)
        future = self._queues_writes.update_soon(record, owner=self.owner)
        self._writing += 1
        self._idle.clear()
        future.add_done_callback(partial(self._written, record))
        return True

    def _written(self, record: TaskRecord, future: asyncio.Future[bool]) -> None:
        self._writing -= 1
        if not future.cancelled():
            if (error := future.exception()) is not None:
                log.error(
                    "task %s: its %s state was not stored: %s", record.id, record.state, error
                )
            elif future.result():
                self._notify(record)
            else:
                log.warning("task %s is no longer held by this runner; write dropped", record.id)
        self._check_idle()

    async def write(self, record: TaskRecord) -> bool:
        """Write a record this runner holds; False (and a warning) if it no longer holds it."""
        if record.state.terminal and record.owner is not None:
            record = record.replace(owner=None)
        if not await self.store.update(record, owner=self.owner):
            log.warning("task %s is no longer held by this runner; write dropped", record.id)
            return False
        self._notify(record)
        return True

    def announce(self, record: TaskRecord) -> None:
        """Tell the listeners of a record stored outside :meth:`submit` (a schedule's run)."""
        self._notify(record)

    def _notify(self, record: TaskRecord) -> None:
        for listener in list(self._listeners):
            try:
                listener(record)
            except Exception:
                log.exception("a task listener failed on %s", record.id)
