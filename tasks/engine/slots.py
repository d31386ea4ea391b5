"""What holds and orders this process's tasks: the waiting queue, running slots and retries.

Tasks this runner holds wait in a queue of ids (their records are already in the store),
highest priority first. Whenever one of ``max_running`` slots is free, the next one is
handed to ``spawn`` (in a Quart app, ``app.add_background_task``), which runs it after the
response has gone out. A
slot that finishes a task takes the next waiting one itself. A failed attempt due for a
retry waits out its backoff on a timer, then joins the queue again.

A running task that waits for other tasks (its children) is *parked*: it gives its slot
back, so that the tasks it waits for can run, and counts again once it resumes, which it
does as soon as a slot is free, before any task that waits to start.

A task whose start the store refused for a limit (concurrency, rate) is *held back* without
a slot until it may start (:mod:`.limited`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from ..records import TaskRecord
from .execution import Execution
from .limited import HeldBack, LimitWait
from .parked import Parked
from .waiting import Waiting

__all__ = ["SLOT_STEP", "Execute", "Slots", "Spawn"]

#: Schedules a coroutine function to run in the background, e.g. ``app.add_background_task``.
Spawn = Callable[[Callable[[], Awaitable[None]]], None]
#: Runs the task of an execution (with its record, if known); returns a retry's delay, if
#: due, or what a limit that refused its start says.
Execute = Callable[[Execution, TaskRecord | None], Awaitable[float | LimitWait | None]]

#: seconds a slot runs tasks back to back before it lets the event loop do other work
SLOT_STEP = 0.0005


class Slots:
    """At most ``max_running`` tasks running at once, and the tasks waiting for a slot."""

    def __init__(self, execute: Execute, *, spawn: Spawn | None, max_running: int) -> None:
        if max_running < 1:
            raise ValueError(f"max_running must be at least 1, not {max_running}")
        self.max_running = max_running
        self._execute = execute
        self._spawn = spawn or self._spawn_task
        self._own_tasks: set[asyncio.Task[None]] = set()
        self._waiting = Waiting()
        self._queued: dict[str, TaskRecord] = {}  # records of waiting tasks, to skip a read
        self._running: dict[str, Execution] = {}
        self._retries: dict[str, asyncio.TimerHandle] = {}
        self._busy_threads: dict[str, asyncio.Future[Any]] = {}
        self._parked = Parked()
        self._settled: dict[str, list[asyncio.Future[None]]] = {}
        #: the tasks a limit holds back, waiting until the store admits their start
        self.held_back = HeldBack(self.enqueue)
        self._accepting = False
        self._idle = asyncio.Event()
        self._idle.set()

    # -- state ----------------------------------------------------------------------------

    @property
    def accepting(self) -> bool:
        return self._accepting

    @property
    def running(self) -> int:
        """Tasks running here, parked ones included."""
        return len(self._running)

    @property
    def active(self) -> int:
        """Tasks that hold a slot: running, and not parked."""
        return len(self._running) - len(self._parked)

    @property
    def queued(self) -> int:
        """Tasks waiting for a slot."""
        return len(self._waiting)

    @property
    def limited(self) -> int:
        """Tasks a limit holds back (waiting for neither a slot nor a retry)."""
        return len(self.held_back)

    @property
    def retrying(self) -> int:
        """Tasks waiting out a retry's backoff."""
        return len(self._retries)

    @property
    def busy(self) -> bool:
        """Whether a task runs, waits for a slot, or waits out a retry's backoff here."""
        return bool(self._running or self._waiting or self._retries or self.limited)

    def execution(self, task_id: str) -> Execution | None:
        """The running execution of the task, if it runs here."""
        return self._running.get(task_id)

    def running_ids(self) -> frozenset[str]:
        return frozenset(self._running)

    def holds(self, task_id: str) -> bool:
        """Whether the task waits (for a slot or a limit) or runs here."""
        return (
            task_id in self._running
            or task_id in self._queued
            or task_id in self._waiting
            or task_id in self.held_back
        )

    def knows(self, task_id: str) -> bool:
        """Whether the task waits, runs, or waits out a retry's backoff here."""
        return self.holds(task_id) or task_id in self._retries

    def known_ids(self) -> frozenset[str]:
        """Every task that waits, runs, or waits out a retry's backoff here."""
        held_back = self.held_back.ids()
        return frozenset(
            (*self._running, *self._queued, *self._waiting, *self._retries, *held_back)
        )

    def busy_threads(self) -> frozenset[str]:
        """Tasks whose thread was still working when their slot was cancelled."""
        return frozenset(task_id for task_id, job in self._busy_threads.items() if not job.done())

    async def idle(self) -> None:
        """Wait until nothing runs, waits for a slot, or waits for a retry."""
        await self._idle.wait()

    def settled(self, task_id: str) -> asyncio.Future[None]:
        """Resolves once the task neither waits nor runs here, or is parked or held back by a
        limit (at once if it does neither or is parked or held back)."""
        future = asyncio.get_running_loop().create_future()
        if self.holds(task_id) and task_id not in self._parked and task_id not in self.held_back:
            self._settled.setdefault(task_id, []).append(future)
        else:
            future.set_result(None)
        return future

    # -- lifecycle ------------------------------------------------------------------------

    def open(self) -> None:
        """Start taking tasks."""
        self._accepting = True

    def drain(self) -> int:
        """Start no more tasks: forget waiting ones and retries; return how many.

        Running tasks go on. The caller hands the forgotten ones back to the store.
        """
        self._accepting = False
        for handle in self._retries.values():
            handle.cancel()
        self._retries.clear()
        waiting = [*self._waiting, *self.held_back.clear()]
        handed_back = len(waiting)
        self._waiting.clear()
        self._queued.clear()
        for task_id in waiting:
            self._leave(task_id)
        self.check_idle()
        return handed_back

    async def stop(self) -> None:
        """Cancel the slots this object spawned itself (without a ``spawn`` of its own)."""
        for task in self._own_tasks:
            task.cancel()
        await asyncio.gather(*self._own_tasks, return_exceptions=True)

    # -- parking --------------------------------------------------------------------------

    def park(self, task_id: str) -> None:
        """Give the slot of running task ``task_id`` back while it waits for other tasks.

        Whoever waits for it to leave (:meth:`settled`) is told now: it may wait long.
        """
        self._parked.add(task_id)
        self._tell_settled(task_id)
        self._pump()

    async def resume(self, task_id: str) -> None:
        """Take a slot again for a parked task: at once if one is free, else the first that
        frees, before the tasks that wait to start."""
        if self.active < self.max_running and not self._parked.resuming:
            self._parked.discard(task_id)
        else:
            await self._parked.wait_turn(task_id)

    def unpark(self, task_id: str) -> None:
        """Count a parked task as holding its slot again at once (it is ending)."""
        self._parked.discard(task_id)

    def _resume_parked(self) -> None:
        """Hand free slots to parked tasks that wait to resume, first come first served."""
        while self._parked.resuming and not self._full:
            self._parked.resume_first()

    # -- scheduling -----------------------------------------------------------------------

    def enqueue(self, task: TaskRecord | str, priority: int = 0) -> None:
        """Queue a task this runner holds (its record, or its id and ``priority``); it starts
        when a slot is free, after those of higher priority that wait."""
        if not self._accepting:
            # drained: what it held then went back to the store, and a task claimed since
            # goes back through Upkeep.adopt
            return
        if isinstance(task, TaskRecord):
            self._queued[task.id] = task
            self._waiting.append(task.id, task.priority)
        else:
            self._waiting.append(task, priority)
        self._idle.clear()
        self._pump()

    def remove(self, task_id: str) -> bool:
        """Take a task out of the queue, off its retry timer or out of the tasks a limit
        holds back; False if it is in none."""
        if task_id in self._waiting:
            self._waiting.remove(task_id)
            self._queued.pop(task_id, None)
            self.held_back.forget(task_id)
            self._leave(task_id)
        elif self.held_back.remove(task_id):
            self._leave(task_id)
        elif (handle := self._retries.pop(task_id, None)) is not None:
            handle.cancel()
        else:
            return False
        return True

    def check_idle(self) -> None:
        if not (self._waiting or self._running or self._retries or self.limited):
            self._idle.set()

    @property
    def _full(self) -> bool:
        return self.active >= self.max_running

    def _pump(self) -> None:
        self._resume_parked()
        while self._accepting and self._waiting and not self._full:
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
                    await self._execute_one(execution)
                finally:
                    del self._running[execution.task_id]
                    self._parked.discard(execution.task_id)
                    self._leave(execution.task_id)
                self._resume_parked()
                if not (self._accepting and self._waiting) or self._full:
                    return
                if loop.time() - step_began > SLOT_STEP:
                    await asyncio.sleep(0)
                    step_began = loop.time()
                    # While this slot yielded it held no task, so a new slot may have
                    # started in its place: then this one ends, or the limit is passed.
                    if not (self._accepting and self._waiting) or self._full:
                        return
                execution = Execution(self._waiting.popleft())
                self._running[execution.task_id] = execution
        finally:
            self._pump()
            self.check_idle()

    async def _execute_one(self, execution: Execution) -> None:
        try:
            retry_in = await self._execute(execution, self._queued.pop(execution.task_id, None))
        except asyncio.CancelledError:
            job = execution.thread_job
            if job is not None and not job.done():
                self._busy_threads[execution.task_id] = job
                job.add_done_callback(lambda _: self._busy_threads.pop(execution.task_id, None))
            raise
        finally:
            if execution.limit_group is not None:
                self.held_back.ended(execution.limit_group)
        if isinstance(retry_in, LimitWait):
            if self._accepting:  # else drain() handed it back to the store
                self.held_back.hold(execution.task_id, retry_in)
                self._tell_settled(execution.task_id)
            return
        self.held_back.forget(execution.task_id)  # out of a line, and it got no answer
        if retry_in is not None:
            priority = execution.record.priority if execution.record is not None else 0
            self._schedule_retry(execution.task_id, retry_in, priority)

    def _schedule_retry(self, task_id: str, delay: float, priority: int) -> None:
        if not self._accepting:
            return  # drain() handed the queued record back to the store
        loop = asyncio.get_running_loop()
        self._retries[task_id] = loop.call_later(delay, self._retry_due, task_id, priority)

    def _retry_due(self, task_id: str, priority: int) -> None:
        if self._retries.pop(task_id, None) is not None:
            self.enqueue(task_id, priority)

    def _leave(self, task_id: str) -> None:
        if not self.holds(task_id) or task_id in self.held_back:
            self._tell_settled(task_id)  # unless queued again (a duplicate id), still held

    def _tell_settled(self, task_id: str) -> None:
        for future in self._settled.pop(task_id, ()):
            if not future.done():
                future.set_result(None)
