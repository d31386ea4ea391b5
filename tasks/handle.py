"""What ``@registry.task`` returns: the function itself, plus ``submit`` to run it tracked.

::

    @registry.task(retries=3)
    async def send_report(user_id: int, fmt: str = "pdf") -> dict: ...

    await send_report(7)                          # a plain call, untracked (unit tests)
    record = await send_report.submit(user_id=7)  # checked, stored, scheduled; the record
    record = await send_report.options(timeout=30).submit(7)
    record = await send_report.options(delay=3600, key="report-7-2030-05").submit(7)

Per-call options go through :meth:`TaskHandle.options`, never through ``submit`` itself, so
they cannot collide with the task's own parameter names.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass, field
from typing import Any, Generic, ParamSpec, Protocol, TypeVar, Unpack

from quart import current_app, has_app_context

from .definition import TaskDefinition
from .errors import InvalidArguments, InvalidOptions, NoAppContext, TaskNotFound
from .options import OptionFields, SubmitOptions
from .records import TaskRecord

__all__ = ["TaskCall", "TaskHandle", "keyword_arguments"]

P = ParamSpec("P")
R = TypeVar("R")


class _Definitions(Protocol):
    """What ``submit`` needs of a registry (not ``Registry`` itself: it imports this module)."""

    def __contains__(self, name: object) -> bool: ...

    def get(self, name: str) -> TaskDefinition: ...


class _Runner(Protocol):
    @property
    def registry(self) -> _Definitions: ...

    async def submit(
        self, name: str, kwargs: dict[str, Any] | None = None, options: SubmitOptions | None = None
    ) -> TaskRecord: ...

    async def get(self, task_id: str) -> TaskRecord: ...


@dataclass(frozen=True, slots=True)
class TaskCall(Generic[P]):
    """A task with per-call options set; :meth:`submit` it like the task itself."""

    definition: TaskDefinition
    options: SubmitOptions = field(default_factory=SubmitOptions)

    async def submit(self, *args: P.args, **kwargs: P.kwargs) -> TaskRecord:
        """Check the arguments, store the task and schedule it; return its durable record.

        Raises :class:`~tasks.InvalidArguments` before anything is stored if the arguments
        do not fit, and :class:`~tasks.NoAppContext` outside the app. With a ``key`` that
        a task already has, that task's record comes back (the same arguments) or
        :class:`~tasks.IdempotencyConflict` is raised (other arguments).
        """
        definition = self.definition
        if (
            "connection" in kwargs
            and "connection" not in inspect.signature(definition.func).parameters
        ):
            raise InvalidOptions(
                f"{definition.name}.submit() takes the task's own arguments: give the "
                f"connection of a transaction as {definition.name}.options(connection=conn)"
                ".submit(...)"
            )
        arguments = keyword_arguments(definition, args, kwargs)
        runner = _current_runner(definition)
        return await runner.submit(definition.name, arguments, self.options)


class TaskHandle(Generic[P, R]):
    """A registered task: call it as the plain function, or :meth:`submit` it."""

    def __init__(self, definition: TaskDefinition) -> None:
        self.definition = definition
        functools.update_wrapper(self, definition.func)

    @property
    def name(self) -> str:
        return self.definition.name

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        result: R = self.definition.func(*args, **kwargs)
        return result

    async def submit(self, *args: P.args, **kwargs: P.kwargs) -> TaskRecord:
        """Check the arguments, store the task and schedule it; return its durable record."""
        call: TaskCall[P] = TaskCall(self.definition)
        return await call.submit(*args, **kwargs)

    async def get(self, task_id: str) -> TaskRecord:
        """The current record of a task of this kind, as stored now (for a view that reports
        a status, say). Raises :class:`~tasks.TaskNotFound` if there is no such task of
        this kind, and :class:`~tasks.NoAppContext` outside the app."""
        record = await _current_runner(self.definition).get(task_id)
        if record.name != self.name:
            raise TaskNotFound(f"no {self.name!r} task has the id {task_id!r}")
        return record

    def options(
        self, options: SubmitOptions | None = None, /, **fields: Unpack[OptionFields]
    ) -> TaskCall[P]:
        """This task with options set for one call: a :class:`~tasks.SubmitOptions`, or its
        fields as keywords (or both: the keywords change those fields).

        ``timeout``: seconds per attempt; ``retries``: extra attempts after a failure;
        ``delay`` (seconds or a ``timedelta``) or ``at`` (an aware ``datetime``): run it
        later, stored ``scheduled`` until then; ``key``: an idempotency key, so that a
        repeated submission gets the first task back instead of starting another. A bad
        value raises :class:`~tasks.InvalidOptions` here, before anything is submitted.
        """
        return TaskCall(self.definition, SubmitOptions.of(options, **fields))

    def __repr__(self) -> str:
        return f"<task {self.definition.name!r}>"


def keyword_arguments(
    definition: TaskDefinition, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> dict[str, Any]:
    """Positional arguments by their names; missing ones are left for the model to name."""
    try:
        bound = inspect.signature(definition.func).bind_partial(*args, **kwargs)
    except TypeError as exc:
        raise InvalidArguments(f"task {definition.name!r}: {exc}") from None
    return dict(bound.arguments)


def _current_runner(definition: TaskDefinition) -> _Runner:
    if not has_app_context():
        raise NoAppContext(
            f"{definition.name}.submit() needs the app: call it from a view, or inside "
            "`async with app.app_context():` (in tests, `async with tasks.testing.running(app)`)"
        )
    tasks = current_app.extensions.get("tasks")
    if tasks is None:
        raise NoAppContext(
            f"{definition.name}.submit(): this app has no Tasks extension; "
            "call Tasks(app, registry=...) when building it"
        )
    runner: _Runner = tasks.runner
    if definition.name not in runner.registry or runner.registry.get(definition.name) is not (
        definition
    ):
        raise NoAppContext(
            f"task {definition.name!r} is not in the registry this app's Tasks was given; "
            "pass that registry to Tasks(app, registry=...)"
        )
    return runner
