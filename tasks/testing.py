"""Helpers for testing an app that uses tasks: start it, drive it, wait for its tasks.

::

    from tasks.testing import running

    async def test_report_is_built():
        app = create_app({"TASKS_DATABASE": ":memory:"})
        async with running(app) as harness:
            response = await harness.client.post("/reports/7")
            task_id = (await response.get_json())["id"]
            record = await harness.wait_for(task_id)
        assert record.state is State.SUCCEEDED

``running`` runs the app's startup and shutdown (``before_serving``/``after_serving``), so the
store and the runner are live, and tasks submitted by views (or by the test itself, with
``await my_task.submit(...)``) run on the test's event loop.

To test one task's body alone, without an app, :func:`run_task` runs it once with a task
context, so that ``current_task().progress(...)`` and cancellation checks work::

    run = await run_task(build_report, user_id=7)
    assert run.result == {"rows": 3}
    assert run.progress[-1].current == 3
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from quart import Quart
from quart.testing import TestApp
from quart.typing import TestClientProtocol

from .app.extension import Tasks
from .context import TaskContext, enter
from .engine.runner import Runner
from .handle import TaskHandle
from .records import Progress, TaskRecord, new_task_id

__all__ = ["Harness", "TaskRun", "run_task", "running"]

#: How long a wait may take before the test fails, in seconds.
DEFAULT_WAIT = 10.0


@dataclass
class Harness:
    """A started app, a test client for it, and waits on its tasks."""

    app: Quart
    client: TestClientProtocol

    @property
    def runner(self) -> Runner:
        tasks: Tasks = self.app.extensions["tasks"]
        return tasks.runner

    async def wait_for(self, task_id: str, *, timeout: float = DEFAULT_WAIT) -> TaskRecord:
        """Wait until the task has ended and return its final record."""
        async with asyncio.timeout(timeout):
            return await self.runner.wait(task_id)

    async def wait_all(self, *, timeout: float = DEFAULT_WAIT) -> None:
        """Wait until no task of this app runs, waits for a slot, or waits for a retry."""
        async with asyncio.timeout(timeout):
            await self.runner.join()

    async def record(self, task_id: str) -> TaskRecord:
        """The task's record as stored now."""
        return await self.runner.get(task_id)


@asynccontextmanager
async def running(app: Quart, *, shutdown_timeout: int = 30) -> AsyncIterator[Harness]:
    """Start ``app`` (its serving hooks included) around the block; yield a :class:`Harness`.

    The block runs inside an app context, so ``await my_task.submit(...)`` works in it
    directly. On the way out, tasks still running get the app's shutdown window
    (``BACKGROUND_TASK_SHUTDOWN_TIMEOUT``), bounded by ``shutdown_timeout`` seconds.
    """
    if "tasks" not in app.extensions:
        raise RuntimeError("running(app) needs the Tasks extension: call Tasks(app, registry=...)")
    async with TestApp(app, shutdown_timeout=shutdown_timeout) as test_app, app.app_context():
        yield Harness(app, test_app.test_client())


@dataclass
class TaskRun:
    """What one run of a task's body by :func:`run_task` returned and reported."""

    #: what the function returned
    result: Any
    #: the context it ran with (its ``id``, ``name``, ``attempt``, ``cancelled``)
    context: TaskContext
    #: every ``current_task().progress(...)`` call, in order
    progress: list[Progress] = field(default_factory=list)


async def run_task(
    task: TaskHandle[..., Any] | Callable[..., Any],
    /,
    *args: Any,
    attempt: int = 1,
    cancelled: bool = False,
    **kwargs: Any,
) -> TaskRun:
    """Run a task's function once, as the runner would (a coroutine function on this loop,
    a blocking one in a thread), with a task context but no app, store or record.

    ``cancelled=True`` starts it with cancellation already asked for, to test a body's
    cooperative stop; ``attempt`` is what ``current_task().attempt`` says. An exception
    the body raises is raised here.
    """
    if isinstance(task, TaskHandle):
        func, name, is_async = task.definition.func, task.name, task.definition.is_async
    else:
        func, name = task, getattr(task, "__name__", "task")
        is_async = inspect.iscoroutinefunction(task)
    progress: list[Progress] = []
    context = TaskContext(
        new_task_id(),
        name,
        attempt,
        progress.append,
        asyncio.get_running_loop(),
        threaded=not is_async,
    )
    if cancelled:
        context.request_stop()

    async def body() -> Any:
        enter(context)  # in this asyncio task's own copy of the context variables
        if is_async:
            return await func(*args, **kwargs)
        return await asyncio.to_thread(func, *args, **kwargs)

    result = await asyncio.get_running_loop().create_task(body())
    return TaskRun(result, context, progress)
