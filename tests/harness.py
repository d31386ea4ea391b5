"""A started app and its test client, with helpers that wait on the runner instead of sleeping."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from quart import Quart

from quart_app.config import load_config
from tasks import Registry, Runner, Store, TaskRecord, Tasks, store_from_url
from tasks.testing import Harness, running
from tasks.web import blueprint, register_error_handlers

#: Bound for every wait in a test: far above what any of them needs, far below the test timeout.
WAIT = 30.0
#: ``make_runner`` of the unit tier: ``await make_runner(store=None, **options)``
RunnerFactory = Callable[..., Coroutine[Any, Any, Runner]]
#: the names of the example app's tasks, sorted
EXAMPLE_TASKS = [
    "count", "export", "fail", "fulfil", "noop", "notify", "render_pdf", "send_email", "sleep",
    "square", "sum_squares", "tenant_export",
]  # fmt: skip


@dataclass
class Served(Harness):
    """A started app and a client for it, with waits that read records through the API."""

    async def submit(self, name: str, body: Any = None, **query: Any) -> dict[str, Any]:
        """POST a task and return its record; fails the test unless the answer is 202."""
        sent = {} if body is None else {"json": body}  # json=None would send `null`
        response = await self.client.post(f"/tasks/{name}", query_string=query, **sent)
        payload = await response.get_json()
        assert response.status_code == 202, payload
        assert isinstance(payload, dict)
        return payload

    async def api_record(self, task_id: str) -> dict[str, Any]:
        response = await self.client.get(f"/tasks/{task_id}")
        assert response.status_code == 200
        payload = await response.get_json()
        assert isinstance(payload, dict)
        return payload

    async def finished(self, task_id: str) -> dict[str, Any]:
        """Wait for the task to end, then read its record through the API."""
        await self.wait_for(task_id, timeout=WAIT)
        return await self.api_record(task_id)

    async def until(self, task_id: str, check: Callable[[TaskRecord], bool]) -> TaskRecord:
        """Wait until a write of the task's record satisfies ``check``; return that record."""
        seen: asyncio.Queue[TaskRecord] = asyncio.Queue()
        unsubscribe = self.runner.subscribe(
            lambda record: seen.put_nowait(record) if record.id == task_id else None
        )
        try:
            record = await self.runner.get(task_id)
            async with asyncio.timeout(WAIT):
                while not check(record):
                    record = await seen.get()
            return record
        finally:
            unsubscribe()


@asynccontextmanager
async def serving(app: Quart) -> AsyncIterator[Served]:
    """Run the app's startup and shutdown around the block (``tasks.testing.running``).

    A shutdown that overruns fails with the stack of every task still pending, so that the
    failure names what it waited for.
    """
    stopping = False
    try:
        async with running(app) as harness:
            yield Served(app, harness.client)
            stopping = True
    except TimeoutError as exc:
        if not stopping:
            raise
        raise TimeoutError(f"the app did not stop in time; pending:\n{pending_stacks()}") from exc


def pending_stacks() -> str:
    """Where each pending asyncio task of this loop waits: its chain of awaits, outermost
    first."""
    lines = []
    for task in asyncio.all_tasks():
        if task is not asyncio.current_task():
            lines.append(f"  {task.get_name()}: {' -> '.join(_awaits(task.get_coro()))}")
    return "\n".join(sorted(lines))


def _awaits(awaitable: object) -> list[str]:
    where = []
    while awaitable is not None and len(where) < 30:
        frame = getattr(awaitable, "cr_frame", None) or getattr(awaitable, "ag_frame", None)
        if frame is None:
            where.append(repr(awaitable)[:120])  # a future, or a finished coroutine
            break
        path = "/".join(frame.f_code.co_filename.rsplit("/", 2)[-2:])
        where.append(f"{frame.f_code.co_name} ({path}:{frame.f_lineno})")
        awaitable = getattr(awaitable, "cr_await", None) or getattr(awaitable, "ag_await", None)
    return where


def app_with_registry(registry: Registry, *, store: Store | None = None, **config: Any) -> Quart:
    """The app's HTTP API over a registry of the test's own tasks (and a store, if given)."""
    app = Quart(__name__)
    app.config.update(load_config({"TESTING": True, **config}))
    Tasks(app, registry=registry, store=store)
    register_error_handlers(app)
    app.register_blueprint(blueprint)
    return app


def run_until_ended(
    registry: Registry, database_url: str, records: list[TaskRecord]
) -> list[TaskRecord]:
    """A runner of ``registry`` sharing the store at ``database_url`` claims and runs every
    task it can see, until ``records`` have ended; their final records. From sync code."""

    async def work() -> list[TaskRecord]:
        store = store_from_url(database_url)
        await store.open()
        runner = Runner(registry, store, poll_interval=0.05)
        await runner.start()
        try:  # a bound that grows with the tasks to run, as their time does
            async with asyncio.timeout(WAIT + 0.25 * len(records)):
                return [await runner.wait(record.id, poll_interval=0.05) for record in records]
        finally:
            await runner.close()
            await store.close()

    return asyncio.run(work())
