"""The in-process backend: the app's own store, and its runner when a task must run here."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Any

from quart import Quart

from ..app import queue_list, schedules
from ..app.extension import Tasks
from ..engine.runner import Runner
from ..errors import TaskAlreadyFinished, TaskNotFound
from ..idempotency import Submitted
from ..options import SubmitOptions
from ..records import State, TaskRecord, utcnow
from ..store import ProcessLocal, RecordReader, Store
from .backends import CommandError, follow

__all__ = ["LocalBackend", "uses_memory_store"]

#: seconds ``cancel`` waits for the server holding a task to act on the request
CANCEL_WAIT = 3.0


def uses_memory_store(app: Quart, tasks: Tasks) -> bool:
    """Whether the app's store is one only this process sees (``:memory:``)."""
    return isinstance(tasks.store_for(app), ProcessLocal)


class LocalBackend:
    """The app's own store, in this process.

    With ``serve`` the app's whole lifecycle runs (startup, its runner, shutdown), which
    ``run`` needs; otherwise only the store is opened, and nothing is executed here.
    """

    def __init__(self, app: Quart, tasks: Tasks, *, serve: bool) -> None:
        self.app = app
        self.tasks = tasks
        self.serve = serve
        self._stack = AsyncExitStack()
        self._runner: Runner | None = None
        self._store: Store | None = None  # without serve: the store this backend opened
        self._records: RecordReader | None = None

    async def __aenter__(self) -> LocalBackend:
        if uses_memory_store(self.app, self.tasks) and not self.serve:
            raise CommandError(
                "TASKS_DATABASE is ':memory:', so this process has an empty store of its own; "
                "ask the server that runs the tasks with --url (or QUART_TASKS_URL)"
            )
        await self._stack.__aenter__()
        try:
            context = self.app.app_context()
            await context.push()
            self._stack.push_async_callback(context.pop)
            if self.serve:
                await self._start_app()
            else:
                await self._open_store()
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self._stack.aclose()

    async def _start_app(self) -> None:
        self.tasks.run_as_command()  # run only what it submits, never tasks stored for servers
        try:
            await self.app.startup()
        except Exception as exc:
            raise CommandError(
                f"the app could not start: {type(exc).__name__}: {exc}; "
                "check TASKS_DATABASE and the other TASKS_* settings"
            ) from exc
        self._stack.push_async_callback(self.app.shutdown)
        self._runner = self.tasks.runner
        self._records = self._runner.records

    async def _open_store(self) -> None:
        # The app's store, without a runner that would run tasks.
        store = self.tasks.store_for(self.app)
        try:
            await store.open()
        except Exception as exc:
            raise CommandError(
                f"cannot open the task store {self.tasks.database(self.app)!r}: "
                f"{type(exc).__name__}: {exc}; check TASKS_DATABASE"
            ) from exc
        self._store = self._records = store
        self._stack.push_async_callback(store.close)

    @property
    def store(self) -> Store:
        """The store this backend opened (not with ``serve``, where the runner holds it)."""
        assert self._store is not None, "enter the backend without serve first"
        return self._store

    @property
    def records(self) -> RecordReader:
        assert self._records is not None, "enter the backend first"
        return self._records

    async def submit(
        self, name: str, kwargs: dict[str, Any], options: SubmitOptions, *, wait: bool
    ) -> Submitted:
        """With ``wait`` run the task here; without, store it (queued, or scheduled with a
        delay) for a server to run."""
        assert self._runner is not None, "submitting needs serve=True"
        queue = self.tasks.registry.get(name).queue
        if wait and queue in await self._runner.pauses.current():
            raise CommandError(
                f"queue {queue!r} is paused, so {name} would not start here: resume it first "
                f"(`tasks resume {queue}`), or drop --wait to store the task until then"
            )
        return await self._runner.accept(name, kwargs, options, enqueue=wait)

    def check_submit(
        self, name: str, kwargs: dict[str, Any], options: SubmitOptions, *, wait: bool
    ) -> None:
        """Refuse a bad submission before the app starts, so that mistakes answer at once."""
        self.tasks.registry.get(name).validate(kwargs)
        if wait and (options.delay is not None or options.at is not None):
            raise CommandError(
                "--wait runs the task here and now, so it does not go with --in or --at: "
                "drop --wait to store it for a server sharing the store (then follow it "
                "with `tasks watch ID`), or send it to a server with --url"
            )
        if not wait and uses_memory_store(self.app, self.tasks):
            raise CommandError(
                "TASKS_DATABASE is ':memory:', so a task stored without --wait would vanish "
                "when this command exits; add --wait to run it here, or send it to a server "
                "with --url"
            )

    async def get(self, task_id: str) -> TaskRecord:
        record = await self.records.get(task_id)
        if record is None:
            raise TaskNotFound(f"no task has the id {task_id!r}")
        return record

    async def query(self, *, state: State | None, name: str | None, limit: int) -> list[TaskRecord]:
        return await self.records.query(state=state, name=name, limit=limit)

    async def cancel(self, task_id: str) -> TaskRecord:
        """Cancel through the store (with ``serve``, through this process's runner): a task
        nobody holds ends at once; one a server holds is flagged, and that server stops it
        within a poll round (waited for, briefly)."""
        if self._runner is not None:  # serving: this process's runner may hold it
            return await self._runner.cancel(task_id)
        record = await self.get(task_id)
        if record.state.terminal:
            raise TaskAlreadyFinished(
                f"task {task_id} has already {record.state.value}; only queued or running "
                "tasks can be cancelled"
            )
        flagged = await self.store.request_cancel(task_id)
        if flagged is None:
            raise TaskNotFound(f"no task has the id {task_id!r}")
        deadline = asyncio.get_running_loop().time() + CANCEL_WAIT
        while not flagged.state.terminal and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.1)  # the owner is another process: poll the shared store
            flagged = await self.get(task_id)
        return flagged

    async def names(self) -> list[dict[str, Any]]:
        return [definition.to_dict() for definition in self.tasks.registry]

    async def schedules(self) -> list[dict[str, Any]]:
        return await schedules.describe(self.tasks.registry, self.records, utcnow())

    async def queues(self) -> list[dict[str, Any]]:
        return await queue_list.describe(self.tasks.registry, self.records)

    async def pause(self, queue: str) -> dict[str, Any]:
        """Pause through the store: no process sharing it starts a task of the queue from
        now on (a server reads the paused queues before each start, or hears of it)."""
        return await self._set_paused(queue, True)

    async def resume(self, queue: str) -> dict[str, Any]:
        """Resume through the store: servers sharing it claim the queue's waiting tasks at
        their next claim (within their poll interval; at once where the store announces it)."""
        return await self._set_paused(queue, False)

    async def _set_paused(self, queue: str, paused: bool) -> dict[str, Any]:
        registry = self.tasks.registry
        registry.in_queue(queue)  # UnknownQueue before anything is written
        if self._runner is not None:
            await (self._runner.pauses.pause if paused else self._runner.pauses.resume)(queue)
        else:
            await self.store.set_paused(queue, paused)
        return await queue_list.describe_one(registry, self.records, queue)

    async def follow(self, task_id: str) -> AsyncGenerator[TaskRecord, None]:
        if self._runner is None:
            async for record in follow(self.get, task_id):
                yield record
            return
        # Writes of this process's runner wake the loop at once, between the polls.
        wake = asyncio.Event()
        unsubscribe = self._runner.subscribe(lambda record: wake.set())
        try:
            async for record in follow(self.get, task_id, wake=wake):
                yield record
        finally:
            unsubscribe()

    async def interrupted(self, task_id: str) -> str:
        if self._runner is None:
            return f"stopped watching; task {task_id} goes on where it runs"
        # The task runs in this process, which is about to exit: end it cleanly.
        try:
            record = await self._runner.cancel(task_id)
        except TaskAlreadyFinished:
            return f"task {task_id} had already ended"
        return f"task {task_id} {record.state.value} as this command was interrupted"
