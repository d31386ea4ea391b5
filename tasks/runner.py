"""The runner: accepts tasks, bounds how many run and wait, and drives each one to an end.

Accepted tasks wait in a bounded in-process queue of ids (their records are already in the
store). Whenever a slot is free, the next one is handed to ``spawn`` (in a Quart app,
``app.add_background_task``), which runs it after the response has gone out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from .attempt import Execution, run_attempt
from .errors import QueueFull, ShuttingDown, TaskAlreadyFinished, TaskNotFound
from .records import State, TaskRecord
from .registry import Registry
from .store import Store

__all__ = ["Runner", "Spawn"]

log = logging.getLogger("tasks")

#: Schedules a coroutine function to run in the background, e.g. ``app.add_background_task``.
Spawn = Callable[[Callable[[], Awaitable[None]]], None]
Listener = Callable[[TaskRecord], None]


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
        progress_interval: float = 0.2,
        cancel_wait: float = 1.0,
    ) -> None:
        if max_running < 1:
            raise ValueError(f"max_running must be at least 1, not {max_running}")
        if max_queued < 0:
            raise ValueError(f"max_queued must be 0 or more, not {max_queued}")
        self.registry = registry
        self.store = store
        self.max_running = max_running
        self.max_queued = max_queued
        self.progress_interval = progress_interval
        self.cancel_wait = cancel_wait
        self._spawn = spawn or self._spawn_task
        self._own_tasks: set[asyncio.Task[None]] = set()
        self._waiting: deque[str] = deque()
        self._reserved = 0  # submissions between the queue check and their enqueue
        self._running: dict[str, Execution] = {}
        self._retries: dict[str, asyncio.TimerHandle] = {}
        self._listeners: list[Listener] = []
        self._accepting = False
        self._idle = asyncio.Event()
        self._idle.set()
        self._dirty: set[Execution] = set()
        self._progress_due = asyncio.Event()
        self._progress_task: asyncio.Task[None] | None = None

    # -- lifecycle --------------------------------------------------------------------

    async def start(self) -> None:
        """Begin accepting tasks. The store must already be open."""
        self._accepting = True
        self._progress_task = asyncio.get_running_loop().create_task(self._write_progress())

    def drain(self) -> None:
        """Refuse new tasks and start no more waiting ones; running ones go on."""
        if self._accepting:
            log.info(
                "draining: %d running, %d waiting stay queued in the store",
                len(self._running),
                len(self._waiting) + len(self._retries),
            )
        self._accepting = False
        for handle in self._retries.values():
            handle.cancel()
        self._retries.clear()

    async def close(self) -> None:
        """Drain, write the last progress reports and stop the runner's own tasks."""
        self.drain()
        await self._flush_progress()
        tasks = [*self._own_tasks, *([self._progress_task] if self._progress_task else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    @property
    def accepting(self) -> bool:
        return self._accepting

    @property
    def running(self) -> int:
        return len(self._running)

    @property
    def waiting(self) -> int:
        return len(self._waiting) + len(self._retries)

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
    ) -> TaskRecord:
        """Check, store and enqueue a task; return its record once it is durable.

        With ``enqueue=False`` the task is only stored, ``queued``: a server sharing the store
        runs it (see the README on delivery), and this runner does not.
        """
        definition = self.registry.get(name)
        arguments = definition.validate(kwargs or {})
        definition.check_options(timeout, retries)
        if enqueue and not self._accepting:
            raise ShuttingDown("the server is shutting down and takes no new tasks; retry shortly")
        if len(self._waiting) + self._reserved >= self.max_queued:
            raise QueueFull(
                f"{self.max_queued} tasks are already waiting; retry later "
                "or raise TASKS_MAX_QUEUED"
            )
        record = TaskRecord.new(
            name,
            arguments,
            max_attempts=1 + (definition.retries.retries if retries is None else retries),
            timeout=definition.timeout if timeout is None else timeout,
        )
        self._reserved += 1
        try:
            await self.store.create(record)
        finally:
            self._reserved -= 1
        self._notify(record)
        if enqueue:
            self._enqueue(record.id)
        return record

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
        """Cancel a waiting or running task. Waits up to ``cancel_wait`` seconds for it to end."""
        record = await self.get(task_id)
        if record.state.terminal:
            raise TaskAlreadyFinished(
                f"task {task_id} has already {record.state.value}; only queued or running "
                "tasks can be cancelled"
            )
        execution = self._running.get(task_id)
        if execution is not None:
            execution.cancel()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.cancel_wait):
                    await execution.done.wait()
            return execution.record or await self.get(task_id)
        if task_id in self._waiting:
            self._waiting.remove(task_id)
        if (handle := self._retries.pop(task_id, None)) is not None:
            handle.cancel()
        cancelled = record.finished(State.CANCELLED)
        await self._write(cancelled)
        self._check_idle()
        return cancelled

    # -- scheduling ---------------------------------------------------------------------

    def _enqueue(self, task_id: str) -> None:
        self._waiting.append(task_id)
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
        try:
            record = await self.store.get(execution.task_id)
            if record is None or record.state.terminal:
                return  # cancelled or removed while it waited
            retry_in = await run_attempt(self, execution, record)
            if retry_in is not None:
                self._schedule_retry(execution.task_id, retry_in)
        finally:
            del self._running[execution.task_id]
            self._dirty.discard(execution)
            execution.done.set()
            self._pump()
            self._check_idle()

    def _schedule_retry(self, task_id: str, delay: float) -> None:
        if not self._accepting:
            return  # the record stays queued in the store for the next start
        loop = asyncio.get_running_loop()
        self._retries[task_id] = loop.call_later(delay, self._retry_due, task_id)

    def _retry_due(self, task_id: str) -> None:
        if self._retries.pop(task_id, None) is not None:
            self._enqueue(task_id)

    def _check_idle(self) -> None:
        if not (self._waiting or self._running or self._retries):
            self._idle.set()

    # -- record writes --------------------------------------------------------------------

    async def _write(self, record: TaskRecord) -> None:
        await self.store.update(record)
        self._notify(record)

    def _notify(self, record: TaskRecord) -> None:
        for listener in list(self._listeners):
            try:
                listener(record)
            except Exception:
                log.exception("a task listener failed on %s", record.id)

    def progress_reported(self, execution: Execution) -> None:
        self._dirty.add(execution)
        self._progress_due.set()

    async def _write_progress(self) -> None:
        while True:
            await self._progress_due.wait()
            await self._flush_progress()
            await asyncio.sleep(self.progress_interval)

    async def _flush_progress(self) -> None:
        self._progress_due.clear()
        dirty, self._dirty = self._dirty, set()
        for execution in dirty:
            record = execution.with_progress()
            if record is not None:
                await self._write(record)
