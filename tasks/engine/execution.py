"""One task while it holds a running slot: its latest record, and how to stop it."""

from __future__ import annotations

import asyncio
from typing import Any

from ..context import TaskContext
from ..records import Progress, State, TaskRecord

__all__ = ["Execution"]


class Execution:
    """A task while it holds a running slot: its latest record and how to stop it."""

    __slots__ = (
        "cancel_requested",
        "cancel_sent",
        "context",
        "in_call",
        "progress",
        "record",
        "task",
        "task_id",
        "thread_job",
    )

    def __init__(self, task_id: str) -> None:
        self.task_id = task_id
        self.record: TaskRecord | None = None
        self.context: TaskContext | None = None
        self.task: asyncio.Task[Any] | None = None
        self.progress: Progress | None = None
        self.cancel_requested = False
        self.cancel_sent = False
        self.in_call = False
        self.thread_job: asyncio.Future[Any] | None = None

    def cancel(self) -> None:
        """Ask the task to stop: flag it for thread code, and cancel the coroutine if it runs."""
        self.cancel_requested = True
        if self.context is not None:
            self.context.request_stop()
        if self.in_call and self.task is not None and not self.cancel_sent:
            self.cancel_sent = True
            self.task.cancel()

    def latest(self) -> TaskRecord:
        """The running record, carrying the latest reported progress."""
        assert self.record is not None
        if self.progress is None or self.record.progress == self.progress:
            return self.record
        return self.record.replace(progress=self.progress)

    def with_progress(self) -> TaskRecord | None:
        """The running record with the latest reported progress, if that is news."""
        if self.record is None or self.record.state is not State.RUNNING:
            return None
        latest = self.latest()
        if latest is self.record:
            return None
        self.record = latest
        return latest
