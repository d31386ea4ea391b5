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
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from quart import Quart
from quart.testing import TestApp
from quart.typing import TestClientProtocol

from .app.extension import Tasks
from .engine.runner import Runner
from .records import TaskRecord

__all__ = ["Harness", "running"]

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
