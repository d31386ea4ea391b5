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
        "limit_group",
        "news",
        "progress",
        "record",
        "span",
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
        #: the record changed (a step began, a child was added) since it was last written
        self.news = False
        #: the tracing span of the running attempt (see :mod:`tasks.tracing`); None: no tracing
        self.span: Any = None
        #: the group whose limit admitted its start (see :mod:`.limited`); None: no limit
        self.limit_group: str | None = None

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

    def touch(self, record: TaskRecord) -> None:
        """Change the running record, to be written with the next progress write."""
        self.record = record
        self.news = True

    def with_progress(self) -> TaskRecord | None:
        """The running record with the latest reported progress, if that is news."""
        if self.record is None or self.record.state is not State.RUNNING:
            return None
        latest = self.latest()
        if latest is self.record and not self.news:
            return None
        self.record = latest
        self.news = False
        return latest
