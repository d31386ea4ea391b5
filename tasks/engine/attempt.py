"""One attempt of one task: start it, call the function, and record how it ended.

:class:`Attempts` is what a running slot calls with each task it takes: it reads the record
(unless the slot has it), checks that this runner still holds the task and that it is still
queued, runs one attempt and writes its outcome. It returns the delay before a retry when
one is due; the slot schedules it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from functools import partial
from typing import Any, Protocol

from pydantic_core import PydanticSerializationError, to_jsonable_python

from .. import context as task_context
from .. import tracing
from ..context import TaskContext
from ..definition import TaskDefinition
from ..errors import StoreUnavailable, TaskCancelled, UnknownTask
from ..failures import task_error
from ..limits import Admission, StartLimit
from ..records import ErrorInfo, Progress, State, TaskRecord
from ..store import Store, is_damaged
from .execution import Execution
from .invoke import invoke
from .limited import LimitWait
from .workflow import Parking, RunWorkflow, Waits

__all__ = ["Admitted", "Attempts", "Definitions", "Paused", "Writes"]

log = logging.getLogger("tasks")

#: seconds before a task whose record could not be read is tried again
STORE_RETRY = 1.0


class Definitions(Protocol):
    """Where an attempt finds its task's definition (a :class:`~tasks.Registry`)."""

    @property
    def names(self) -> frozenset[str]:
        """The names of the tasks this runner can run: the only ones it takes from the store."""
        ...

    def get(self, name: str) -> TaskDefinition: ...


class Paused(Protocol):
    """Whether a task's queue is paused now (:class:`~.pauses.Pauses`)."""

    async def holds_back(self, name: str) -> bool: ...


class Writes(Protocol):
    """How an attempt writes the record it holds (a :class:`~.writer.RecordWriter`)."""

    async def write(self, record: TaskRecord) -> bool: ...

    async def write_soon(self, record: TaskRecord) -> bool: ...

    async def start_limited(self, record: TaskRecord, limit: StartLimit) -> Admission: ...


class Admitted(Protocol):
    """Told of each start a limit admitted (:class:`~.limited.HeldBack`)."""

    def admitted(self, name: str, group: str, task_id: str) -> None: ...


class Attempts:
    """Runs attempts of the tasks held by ``owner``, writing through ``writes``.

    ``report`` is told of each progress report (a :class:`~.progress.ProgressWriter`'s
    ``report``); ``forget`` once a task leaves its slot. A task whose queue ``paused`` says
    is paused is handed back to the store instead of started.
    """

    def __init__(
        self,
        definitions: Definitions,
        store: Store,
        writes: Writes,
        *,
        owner: str,
        report: Callable[[Execution], None],
        forget: Callable[[Execution], None],
        waits: Waits,
        paused: Paused,
    ) -> None:
        self.definitions = definitions
        self.paused = paused
        self.store = store
        self.writes = writes
        self.owner = owner
        self.waits = waits
        #: where a task waiting for others gives its slot back: the slots that run these
        #: attempts, set once they exist
        self.parking: Parking | None = None
        #: told of each start a limit admitted: the tasks it holds back, set with ``parking``
        self.admitted: Admitted | None = None
        self._report = report
        self._forget = forget

    async def execute(
        self, execution: Execution, record: TaskRecord | None
    ) -> float | LimitWait | None:
        """Run the task of ``execution`` if it is still queued here; the retry delay, if due,
        or why a limit holds it back.

        ``record`` is the task's record when the caller has it, else it is read.
        """
        try:
            if record is None:
                record = await self.store.get(execution.task_id)
            if record is None or record.owner != self.owner or record.state is not State.QUEUED:
                return None  # cancelled, finished or taken over while it waited
            if record.cancel_requested:
                await self.writes.write(record.finished(State.CANCELLED))
                return None
            if is_damaged(record):  # nothing to run it with
                await self.writes.write(record.finished(State.FAILED, error=record.error))
                return None
            if await self.paused.holds_back(record.name):
                # queued and held by nobody, until a runner that sees its queue resumed claims it
                await self.store.release_task(record.id, self.owner)
                log.debug("task %s (%s): its queue is paused; handed back", record.name, record.id)
                return None
            return await run_attempt(self, execution, record)
        except StoreUnavailable as exc:  # reading its record failed; it is still held here
            log.warning(
                "task %s: its record could not be read (%s); trying again in %s s",
                execution.task_id,
                exc,
                STORE_RETRY,
            )
            return STORE_RETRY
        finally:
            self._forget(execution)

    def report(self, execution: Execution) -> None:
        self._report(execution)


async def run_attempt(
    attempts: Attempts, execution: Execution, record: TaskRecord
) -> float | LimitWait | None:
    """Run one attempt and write its outcome. Returns the delay before a retry, if one is due,
    or why a limit holds the task back (its start is not written).

    A task this runner has no definition of (held here by a race, or delivered by a broker
    that serves several apps) is handed back untouched, for a process that can run it.
    """
    try:
        definition = attempts.definitions.get(record.name)
    except UnknownTask:
        await attempts.store.release_task(record.id, attempts.owner)
        log.warning(
            "task %s (%s): no task of that name here; left for a process that runs it",
            record.name,
            record.id,
        )
        return None

    loop = asyncio.get_running_loop()
    execution.task = asyncio.current_task()

    def on_progress(update: Progress) -> None:
        execution.progress = update
        attempts.report(execution)

    context = TaskContext(
        record.id,
        record.name,
        record.attempts + 1,
        on_progress,
        loop,
        threaded=not definition.is_async,
        workflow=partial(_workflow, attempts, execution),
    )
    execution.context = context
    if execution.cancel_requested:
        await attempts.writes.write(record.finished(State.CANCELLED))
        return None

    execution.record = record.started()
    if definition.limits is not None:
        limit = definition.limits.for_start(record.kwargs)
        group = f"{record.name}\x1f{limit.key}"
        admission = await attempts.writes.start_limited(execution.record, limit)
        if not admission.started:
            held = admission.held
            return (
                LimitWait(record.name, group, record.priority, admission.retry_in) if held else None
            )
        execution.limit_group = group
        execution.record = admission.record or execution.record  # started when admitted
        if attempts.admitted is not None:
            attempts.admitted.admitted(record.name, group, record.id)
    else:
        # A coroutine task starts at once, in the loop iteration whose batch commits its
        # start (a crash within that iteration leaves it queued, to run again). A thread
        # task, which takes a thread hand-off anyway, starts only once its start committed.
        write = attempts.writes.write_soon if definition.is_async else attempts.writes.write
        if not await write(execution.record):
            return None
    if execution.cancel_requested:  # asked while the start was being written
        await _end(attempts, execution, State.CANCELLED)
        return None
    task_context.enter(context)
    execution.span = tracing.attempt_span(execution.record)  # None unless the app traces
    try:
        with tracing.current(execution.span):
            return await _call(attempts, execution, definition, context)
    finally:
        context.active = False  # what it submits from now on is not its child
        if execution.span is not None:
            tracing.end_attempt(execution.span, execution.record)


def _workflow(attempts: Attempts, execution: Execution) -> RunWorkflow:
    assert attempts.parking is not None
    return RunWorkflow(
        execution,
        owner=attempts.owner,
        writes=attempts.writes,
        report=attempts.report,
        parking=attempts.parking,
        waits=attempts.waits,
    )


async def _call(
    attempts: Attempts, execution: Execution, definition: TaskDefinition, context: TaskContext
) -> float | None:
    """Call the task's function in ``context`` and write how the attempt ended."""
    assert execution.record is not None
    limit = execution.record.timeout
    timeout = None if limit is None else asyncio.timeout(limit)
    try:
        kwargs = definition.bind(execution.record.kwargs)
        execution.in_call = True
        try:
            if timeout is None:
                value = await invoke(definition, kwargs, context, execution, None)
            else:
                async with timeout:
                    value = await invoke(definition, kwargs, context, execution, timeout)
        finally:
            execution.in_call = False
        result = to_jsonable_python(value)
    except asyncio.CancelledError:
        assert execution.task is not None
        if not (execution.cancel_sent and execution.task.uncancel() == 0):
            raise  # not our cancellation (shutdown): the record stays for recovery
        await _end(attempts, execution, State.CANCELLED)
        return None
    except TimeoutError as exc:
        if timeout is None or not timeout.expired():  # the task's own, not its time limit
            return await _failed(
                attempts, execution, definition, task_error(definition.func, exc), exc
            )
        error = ErrorInfo("timeout", f"the attempt took longer than its {limit:g} s timeout")
        return await _failed(attempts, execution, definition, error, None)
    except TaskCancelled as exc:
        if execution.cancel_requested:
            await _end(attempts, execution, State.CANCELLED)
            return None
        return await _failed(attempts, execution, definition, task_error(definition.func, exc), exc)
    except PydanticSerializationError as exc:
        error = ErrorInfo("invalid_result", f"the result cannot be stored as JSON: {exc}")
        return await _failed(attempts, execution, definition, error, None)
    except Exception as exc:
        return await _failed(attempts, execution, definition, task_error(definition.func, exc), exc)
    if execution.cancel_requested:  # thread work that ignored the request ran to its end
        await _end(attempts, execution, State.CANCELLED)
        return None
    await _end(attempts, execution, State.SUCCEEDED, result=result)
    return None


async def _end(
    attempts: Attempts, execution: Execution, state: State, *, result: Any = None
) -> None:
    execution.record = execution.latest().finished(state, result=result)
    await attempts.writes.write_soon(execution.record)
    level = logging.DEBUG if state is State.SUCCEEDED else logging.INFO  # one line a task costs
    log.log(level, "task %s (%s) %s", execution.record.name, execution.task_id, state.value)


async def _failed(
    attempts: Attempts,
    execution: Execution,
    definition: TaskDefinition,
    error: ErrorInfo,
    exc: BaseException | None,
) -> float | None:
    record = execution.latest()
    retry = record.attempts < record.max_attempts and not execution.cancel_requested
    if execution.span is not None:
        tracing.failed(execution.span, exc if exc is not None else error.message)
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
        await attempts.writes.write(execution.record)
        return None
    execution.record = record.replace(state=State.QUEUED, error=error, progress=None)
    await attempts.writes.write(execution.record)
    return definition.retries.delay(record.attempts)
