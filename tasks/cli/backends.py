"""Where the commands act: the :class:`Backend` protocol, and the server over HTTP.

The in-process backend is in :mod:`tasks.cli.local`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import TasksError
from ..idempotency import Submitted
from ..options import SubmitOptions
from ..records import State, TaskRecord

if TYPE_CHECKING:
    from ..client import TasksClient

__all__ = ["Backend", "CommandError", "RemoteBackend", "follow"]

#: seconds between two reads of a task that another process runs
POLL_INTERVAL = 0.25


class CommandError(TasksError):
    """The command cannot do what was asked here; the message says what to do instead."""

    code = "command_error"
    status = 400


class Backend(Protocol):
    """What every command needs, in-process or over HTTP."""

    async def __aenter__(self) -> Backend: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...

    async def submit(
        self, name: str, kwargs: dict[str, Any], options: SubmitOptions, *, wait: bool
    ) -> Submitted: ...

    async def get(self, task_id: str) -> TaskRecord: ...

    async def query(
        self, *, state: State | None, name: str | None, limit: int
    ) -> list[TaskRecord]: ...

    async def cancel(self, task_id: str) -> TaskRecord: ...

    async def names(self) -> list[dict[str, Any]]: ...

    async def schedules(self) -> list[dict[str, Any]]: ...

    async def queues(self) -> list[dict[str, Any]]: ...

    async def pause(self, queue: str) -> dict[str, Any]: ...

    async def resume(self, queue: str) -> dict[str, Any]: ...

    def follow(self, task_id: str) -> AsyncGenerator[TaskRecord, None]: ...

    async def interrupted(self, task_id: str) -> str:
        """Handle Ctrl-C while following a task; returns what became of it."""
        ...


async def follow(
    get: Callable[[str], Awaitable[TaskRecord]],
    task_id: str,
    *,
    interval: float = POLL_INTERVAL,
    wake: asyncio.Event | None = None,
) -> AsyncIterator[TaskRecord]:
    """Yield the task's record each time it changes, ending with its terminal record.

    The record is read again every ``interval`` seconds, or as soon as ``wake`` is set.
    """
    last: TaskRecord | None = None
    while True:
        if wake is not None:
            wake.clear()
        record = await get(task_id)
        if record != last:
            yield record
            last = record
        if record.state.terminal:
            return
        if wake is None:
            await asyncio.sleep(interval)
            continue
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(interval):
                await wake.wait()


class RemoteBackend:
    """A running server, through its HTTP API."""

    def __init__(self, client: TasksClient) -> None:
        self.client = client

    async def __aenter__(self) -> RemoteBackend:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.client.aclose()

    async def submit(
        self, name: str, kwargs: dict[str, Any], options: SubmitOptions, *, wait: bool
    ) -> Submitted:
        """The server runs the task in either case; ``wait`` only keeps the command following it."""
        return await self.client.accept(name, kwargs, options)

    async def get(self, task_id: str) -> TaskRecord:
        return await self.client.get(task_id)

    async def query(self, *, state: State | None, name: str | None, limit: int) -> list[TaskRecord]:
        return await self.client.query(state=state, name=name, limit=limit)

    async def cancel(self, task_id: str) -> TaskRecord:
        return await self.client.cancel(task_id)

    async def names(self) -> list[dict[str, Any]]:
        return await self.client.names()

    async def schedules(self) -> list[dict[str, Any]]:
        return await self.client.schedules()

    async def queues(self) -> list[dict[str, Any]]:
        return await self.client.queues()

    async def pause(self, queue: str) -> dict[str, Any]:
        return await self.client.pause(queue)

    async def resume(self, queue: str) -> dict[str, Any]:
        return await self.client.resume(queue)

    async def follow(self, task_id: str) -> AsyncGenerator[TaskRecord, None]:
        async for record in follow(self.client.get, task_id):
            yield record

    async def interrupted(self, task_id: str) -> str:
        return f"stopped watching; task {task_id} goes on on the server at {self.client.url}"
