"""What task code sees while it runs: its id, progress reporting and cancellation.

Inside a task, :func:`current_task` returns its :class:`TaskContext`, in coroutine
tasks and thread tasks alike (``asyncio.to_thread`` carries context variables into
the thread).

Cancellation of thread work is cooperative: Python cannot stop a thread from the
outside, so a blocking task should check :attr:`TaskContext.cancelled` (or call
:meth:`TaskContext.raise_if_cancelled`) between steps. Coroutine tasks are
cancelled at their next ``await``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, NoReturn

from quart import globals as quart_globals

from .errors import RequestAccessError, TaskCancelled
from .records import Progress

__all__ = ["TaskContext", "current_task"]

_current: ContextVar[TaskContext] = ContextVar("tasks.current")


def current_task() -> TaskContext:
    """The context of the task that is running; a ``LookupError`` outside of a task."""
    try:
        return _current.get()
    except LookupError:
        raise LookupError("current_task() is only available inside a running task") from None


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
    ) -> None:
        self.id = task_id
        self.name = name
        self.attempt = attempt
        self._on_progress = on_progress
        self._loop = loop
        self._loop_thread = threading.get_ident()
        self._stopped = False
        # An Event costs more than the rest of the context: thread tasks get theirs now,
        # coroutine tasks (which should not block) only if they call wait().
        self._event = threading.Event() if threaded else None

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
