"""One attempt of one task: start it, call the function, and record how it ended."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from pydantic_core import PydanticSerializationError, to_jsonable_python

from . import context as task_context
from .context import TaskContext
from .definition import TaskDefinition
from .errors import TaskCancelled, TasksError
from .failures import task_error
from .records import ErrorInfo, Progress, State, TaskRecord

if TYPE_CHECKING:
    from .runner import Runner

__all__ = ["Execution", "run_attempt"]

log = logging.getLogger("tasks")


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


async def run_attempt(runner: Runner, execution: Execution, record: TaskRecord) -> float | None:
    """Run one attempt and write its outcome. Returns the delay before a retry, if one is due."""
    try:
        definition = runner.registry.get(record.name)
    except TasksError as exc:
        await runner.write(record.finished(State.FAILED, error=ErrorInfo(exc.code, exc.message)))
        return None

    loop = asyncio.get_running_loop()
    execution.task = asyncio.current_task()

    def on_progress(update: Progress) -> None:
        execution.progress = update
        runner.progress.report(execution)

    context = TaskContext(
        record.id,
        record.name,
        record.attempts + 1,
        on_progress,
        loop,
        threaded=not definition.is_async,
    )
    execution.context = context
    if execution.cancel_requested:
        await runner.write(record.finished(State.CANCELLED))
        return None

    execution.record = record.started()
    # A coroutine task starts at once, in the loop iteration whose batch commits its start
    # (a crash within that iteration leaves it queued, to run again). A thread task, which
    # takes a thread hand-off anyway, starts only once its start has committed.
    write = runner.write_soon if definition.is_async else runner.write
    if not await write(execution.record):
        return None
    if execution.cancel_requested:  # asked while the start was being written
        await _end(runner, execution, State.CANCELLED)
        return None
    task_context.enter(context)
    limit = execution.record.timeout
    timeout = None if limit is None else asyncio.timeout(limit)
    try:
        kwargs = definition.bind(execution.record.kwargs)
        execution.in_call = True
        try:
            if timeout is None:
                value = await _invoke(definition, kwargs, context, execution, None)
            else:
                async with timeout:
                    value = await _invoke(definition, kwargs, context, execution, timeout)
        finally:
            execution.in_call = False
        result = to_jsonable_python(value)
    except asyncio.CancelledError:
        assert execution.task is not None
        if not (execution.cancel_sent and execution.task.uncancel() == 0):
            raise  # not our cancellation (shutdown): the record stays for recovery
        await _end(runner, execution, State.CANCELLED)
        return None
    except TimeoutError:
        error = ErrorInfo(
            "timeout", f"the attempt took longer than its {execution.record.timeout:g} s timeout"
        )
        return await _failed(runner, execution, definition, error, None)
    except TaskCancelled as exc:
        if execution.cancel_requested:
            await _end(runner, execution, State.CANCELLED)
            return None
        return await _failed(runner, execution, definition, task_error(definition.func, exc), exc)
    except PydanticSerializationError as exc:
        error = ErrorInfo("invalid_result", f"the result cannot be stored as JSON: {exc}")
        return await _failed(runner, execution, definition, error, None)
    except Exception as exc:
        return await _failed(runner, execution, definition, task_error(definition.func, exc), exc)
    if execution.cancel_requested:  # thread work that ignored the request ran to its end
        await _end(runner, execution, State.CANCELLED)
        return None
    await _end(runner, execution, State.SUCCEEDED, result=result)
    return None


async def _invoke(
    definition: TaskDefinition,
    kwargs: dict[str, Any],
    context: TaskContext,
    execution: Execution,
    timeout: asyncio.Timeout | None,
) -> Any:
    if definition.is_async:
        return await definition.func(**kwargs)
    job = asyncio.ensure_future(asyncio.to_thread(definition.func, **kwargs))
    execution.thread_job = job
    try:
        return await asyncio.shield(job)
    except asyncio.CancelledError:
        context.request_stop()
        if execution.cancel_sent or (timeout is not None and timeout.expired()):
            # A thread cannot be killed: keep the slot until the code notices and returns.
            await asyncio.wait([job])
        else:
            job.add_done_callback(_retrieve)
            log.warning(
                "task %s (%s): its thread is still busy; it was asked to stop",
                context.name,
                context.id,
            )
        _retrieve(job)
        raise


def _retrieve(job: asyncio.Future[Any]) -> None:
    if job.done() and not job.cancelled():
        job.exception()  # mark it retrieved: the outcome is the cancellation


async def _end(runner: Runner, execution: Execution, state: State, *, result: Any = None) -> None:
    execution.record = execution.latest().finished(state, result=result)
    await runner.write_soon(execution.record)
    level = logging.DEBUG if state is State.SUCCEEDED else logging.INFO  # one line a task costs
    log.log(level, "task %s (%s) %s", execution.record.name, execution.task_id, state.value)


async def _failed(
    runner: Runner,
    execution: Execution,
    definition: TaskDefinition,
    error: ErrorInfo,
    exc: BaseException | None,
) -> float | None:
    record = execution.latest()
    retry = record.attempts < record.max_attempts and not execution.cancel_requested
    log.error(
        "task %s (%s) attempt %d/%d failed: %s: %s%s",
        record.name,
        record.id,
        record.attempts,
        record.max_attempts,
        error.type,
        error.message,
        "; retrying" if retry else "",
        exc_info=exc,
    )
    if not retry:
        execution.record = record.finished(State.FAILED, error=error)
        await runner.write(execution.record)
        return None
    execution.record = record.replace(state=State.QUEUED, error=error, progress=None)
    await runner.write(execution.record)
    return definition.retries.delay(record.attempts)
