"""What task code sees while it runs: its id, progress, cancellation, steps and children.

Inside a task, :func:`current_task` returns its :class:`TaskContext`, in coroutine
tasks and thread tasks alike (``asyncio.to_thread`` carries context variables into
the thread). Its workflow methods (:meth:`~TaskContext.step`, :meth:`~TaskContext.result`,
:meth:`~TaskContext.wait_all`) return awaitables on the event loop and block in a thread.

Cancellation of thread work is cooperative: Python cannot stop a thread from the
outside, so a blocking task should check :attr:`TaskContext.cancelled` (or call
:meth:`TaskContext.raise_if_cancelled`) between steps. Coroutine tasks are
cancelled at their next ``await``.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Callable, Coroutine, Iterable
from contextvars import ContextVar
from typing import Any, NoReturn, Protocol, TypeVar

from quart import globals as quart_globals

from . import steps, tracing
from .errors import RequestAccessError, TaskCancelled
from .records import Progress, State, Step, TaskRecord

__all__ = ["ChildFailed", "TaskContext", "Workflow", "current_task", "running_task"]

T = TypeVar("T")

_current: ContextVar[TaskContext] = ContextVar("tasks.current")


def current_task() -> TaskContext:
    """The context of the task that is running; a ``LookupError`` outside of a task."""
    try:
        return _current.get()
    except LookupError:
        raise LookupError("current_task() is only available inside a running task") from None


def running_task() -> TaskContext | None:
    """The context of the task whose attempt is running here now, if any."""
    context = _current.get(None)
    return context if context is not None and context.active else None


class ChildFailed(Exception):
    """A task waited for (a child) ended ``failed`` or ``cancelled``; ``record`` is its record."""

    def __init__(self, record: TaskRecord) -> None:
        reason = f": {record.error.type}: {record.error.message}" if record.error else ""
        super().__init__(f"task {record.name} ({record.id}) {record.state.value}{reason}")
        self.record = record


class Workflow(Protocol):
    """Where a task's steps are stored and its children waited for (the runner's part)."""

    async def begin_step(self, name: str, digest: str) -> Step | None:
        """Start step ``name``: its stored outcome if it has succeeded before (not to run
        again), else None, having marked it running."""
        ...

    async def end_step(self, name: str, result: Any, error: BaseException | None) -> None:
        """Store how step ``name`` ended: its JSON ``result``, or ``error``."""
        ...

    async def wait(self, task_ids: list[str]) -> list[TaskRecord]:
        """Wait until each task has ended, giving this task's running slot back meanwhile;
        their records, in order."""
        ...


class TaskContext:
    """Handle given to running task code. Safe to use from the task's thread."""

    def __init__(
        self,
        task_id: str,
        name: str,
        attempt: int,
        on_progress: Callable[[Progress], None],
        loop: asyncio.AbstractEventLoop,
        *,
        threaded: bool = True,
        workflow: Callable[[], Workflow] | None = None,
    ) -> None:
        self.id = task_id
        self.name = name
        self.attempt = attempt
        #: False once the attempt has ended: a submission made then is not its child
        self.active = True
        self._make_workflow = workflow
        self._workflow: Workflow | None = None
        self._on_progress = on_progress
        self._loop = loop
        self._loop_thread = threading.get_ident()
        self._stopped = False
        # An Event costs more than the rest of the context: thread tasks get theirs now,
        # coroutine tasks (which should not block) only if they call wait().
        self._event = threading.Event() if threaded else None

    @property
    def workflow(self) -> Workflow:
        """Where its steps are kept and its children waited for (made on first use)."""
        if self._workflow is None:
            make = self._make_workflow
            self._workflow = make() if make is not None else steps.InMemory()
        return self._workflow

    @property
    def cancelled(self) -> bool:
        """True once cancellation (or a timeout, or shutdown) asked the task to stop."""
        return self._stopped

    def raise_if_cancelled(self) -> None:
        """Raise :class:`TaskCancelled` if the task was asked to stop."""
        if self._stopped:
            raise TaskCancelled(f"task {self.name} ({self.id}) was asked to stop")

    def wait(self, seconds: float) -> bool:
        """Block the thread up to ``seconds``; return early with True if cancelled."""
        if self._event is None:  # a coroutine task, on the loop's thread like request_stop()
            self._event = threading.Event()
            if self._stopped:
                self._event.set()
        return self._event.wait(seconds)

    def progress(
        self, current: float, total: float | None = None, message: str | None = None
    ) -> None:
        """Report how far the task has got; shown on its record."""
        update = Progress(current, total, message)
        if threading.get_ident() == self._loop_thread:
            self._on_progress(update)
        else:
            self._loop.call_soon_threadsafe(self._on_progress, update)

    def step(self, name: str, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """Run ``fn(*args, **kwargs)`` once as step ``name`` and store its result as JSON.

        When the task runs again (a retry, or a resumption after a crash), a step that
        has succeeded returns its stored result without running ``fn``; the step that was
        in flight runs again. Returns the result as stored (its JSON form) either way. A
        coroutine function is awaited, a plain one runs in a thread. Awaitable in a
        coroutine task; in a thread task, a blocking call. Step names are unique within a
        run (use ``f"send-{i}"`` in loops); a name given other arguments than on the run
        that stored it raises :class:`~tasks.errors.WorkflowChanged`.
        """
        digest = steps.digest(args, kwargs)
        if self._on_loop():
            return self._step(name, digest, fn, args, kwargs)
        stored = self._blocking(self.workflow.begin_step(name, digest))
        if stored is not None:
            return stored.result
        try:
            with tracing.step_span(name):
                if inspect.iscoroutinefunction(fn):
                    value = self._blocking(fn(*args, **kwargs))
                else:
                    value = fn(*args, **kwargs)
            result = steps.stored_form(name, value)
        except BaseException as exc:
            self._blocking(self.workflow.end_step(name, None, exc))
            raise
        self._blocking(self.workflow.end_step(name, result, None))
        return result

    async def _step(
        self,
        name: str,
        digest: str,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        stored = await self.workflow.begin_step(name, digest)
        if stored is not None:
            return stored.result
        try:
            with tracing.step_span(name):
                if inspect.iscoroutinefunction(fn):
                    value = await fn(*args, **kwargs)
                else:
                    value = await asyncio.to_thread(fn, *args, **kwargs)
            result = steps.stored_form(name, value)
        except BaseException as exc:
            await self.workflow.end_step(name, None, exc)
            raise
        await self.workflow.end_step(name, result, None)
        return result

    def result(self, task: TaskRecord | str) -> Any:
        """The result of ``task`` (a child's record, or any task's id), once it has ended.

        Raises :class:`ChildFailed` if it failed or was cancelled. While it waits, this task
        gives its running slot back, so parents waiting for children never hold every slot.
        Awaitable in a coroutine task; in a thread task, a blocking call.
        """
        if self._on_loop():
            return self._results([task], single=True)
        return self._blocking(self._results([task], single=True))

    def wait_all(self, tasks: Iterable[TaskRecord | str]) -> Any:
        """The results of ``tasks``, in their order, once every one has ended; as
        :meth:`result`, and :class:`ChildFailed` for the first that did not succeed."""
        if self._on_loop():
            return self._results(list(tasks), single=False)
        return self._blocking(self._results(list(tasks), single=False))

    async def _results(self, tasks: list[TaskRecord | str], *, single: bool) -> Any:
        ids = [task if isinstance(task, str) else task.id for task in tasks]
        records = await self.workflow.wait(ids) if ids else []
        for record in records:
            if record.state is not State.SUCCEEDED:
                raise ChildFailed(record)
        results = [record.result for record in records]
        return results[0] if single else results

    def _on_loop(self) -> bool:
        return threading.get_ident() == self._loop_thread

    def _blocking(self, work: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(work, self._loop).result()

    def request_stop(self) -> None:
        self._stopped = True
        if self._event is not None:
            self._event.set()


class _DetachedRequest:
    """Stands in for ``request`` inside a task, where the real one is already closed."""

    def __init__(self, kind: str) -> None:
        self._kind = kind

    def _refuse(self) -> NoReturn:
        raise RequestAccessError(
            f"a task cannot use `{self._kind}`: it runs after the response was sent, when the "
            f"{self._kind} is gone. Read what the task needs in the view and pass it as arguments."
        )

    def __getattr__(self, name: str) -> Any:
        self._refuse()

    def __bool__(self) -> bool:
        return False


_DETACHED_REQUEST: Any = _DetachedRequest("request")
_DETACHED_WEBSOCKET: Any = _DetachedRequest("websocket")


def enter(context: TaskContext) -> None:
    """Bind ``context`` as the current task and detach the scheduling request, if any.

    Quart's ``add_background_task`` copies the view's context variables, so without this a
    task would still see a ``request`` whose context has already been closed.
    """
    _current.set(context)
    quart_globals._cv_request.set(_DETACHED_REQUEST)
    quart_globals._cv_websocket.set(_DETACHED_WEBSOCKET)
