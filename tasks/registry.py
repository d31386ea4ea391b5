"""The task registry: ``@registry.task`` turns a function into a :class:`TaskHandle`."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Collection, Iterator
from datetime import timedelta
from typing import Any, ParamSpec, TypeVar, overload

import pydantic

from .definition import Retries, TaskDefinition, arguments_model, plain
from .errors import InvalidOptions, UnknownQueue, UnknownTask
from .handle import TaskHandle
from .limits import TaskLimits
from .options import check_priority, check_queue
from .records import TaskRecord
from .timing.periodic import Schedule

__all__ = ["RecordLookup", "Registry", "Served", "Sweeper", "TaskDefinition"]

P = ParamSpec("P")
R = TypeVar("R")

#: Reads a task's record by id: None when the store has none (never made, or deleted).
RecordLookup = Callable[[str], Awaitable[TaskRecord | None]]
#: Removes what tasks left behind that no record needs any more; see :meth:`Registry.sweeper`.
Sweeper = Callable[[RecordLookup], Awaitable[None]]


class Registry:
    """A table of task names to functions. Register with the :meth:`task` decorator."""

    def __init__(self) -> None:
        self._tasks: dict[str, TaskDefinition] = {}
        self._sweepers: list[Sweeper] = []
        self._names: frozenset[str] = frozenset()

    @overload
    def task(self, name: Callable[P, R], /) -> TaskHandle[P, R]: ...

    @overload
    def task(
        self,
        name: str | None = None,
        *,
        timeout: float | None = None,
        retries: int = 0,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        idempotent: bool = False,
        durable: bool = False,
        queue: str = "default",
        priority: int = 0,
        concurrency: int | None = None,
        concurrency_key: str | None = None,
        rate_limit: str | None = None,
        cleanup: Callable[[TaskRecord], None] | None = None,
        every: timedelta | None = None,
        cron: str | None = None,
        timezone: str | None = None,
        catch_up: bool = True,
    ) -> Callable[[Callable[P, R]], TaskHandle[P, R]]: ...

    def task(
        self,
        name: str | Callable[..., Any] | None = None,
        *,
        timeout: float | None = None,
        retries: int = 0,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        idempotent: bool = False,
        durable: bool = False,
        queue: str = "default",
        priority: int = 0,
        concurrency: int | None = None,
        concurrency_key: str | None = None,
        rate_limit: str | None = None,
        cleanup: Callable[[TaskRecord], None] | None = None,
        every: timedelta | None = None,
        cron: str | None = None,
        timezone: str | None = None,
        catch_up: bool = True,
    ) -> Any:
        """Register a function as a task; returns a :class:`TaskHandle` wrapping it.

        Use as ``@registry.task`` or ``@registry.task(...)``. Coroutine functions run on the
        event loop, plain functions in a worker thread. ``timeout`` bounds one attempt
        (seconds); ``retries`` extra attempts follow a failure after ``backoff * 2**(n-1)``
        seconds. ``idempotent`` declares that the task is safe to run again if a crash
        interrupted it; ``durable`` that it is resumed after a crash, its succeeded steps
        (``current_task().step``) skipped. ``cleanup(record)`` runs when retention deletes
        one of its records, to remove what the task left behind (find it from ``record.id``:
        a crashed run leaves no result); see also :meth:`sweeper`. The handle still calls the
        plain function; ``handle.submit(...)`` runs it as a tracked task.

        ``queue`` names the queue its tasks wait in (``"default"``): a process runs only the
        queues it serves (``TASKS_QUEUES``, ``tasks worker --queue``). ``priority`` (-1000
        to 1000, default 0) orders the waiting tasks of a queue, higher first; a submission
        may give its own (``.options(priority=...)``). ``concurrency=N`` lets at most N of
        its tasks run at once across every process sharing the store, per distinct value of
        the argument ``concurrency_key`` names if given; ``rate_limit="N/s"`` (or ``/m``,
        ``/h``) lets at most N start in any such period. A task a limit holds back waits
        ``queued`` (see ``tasks/limits.py``).

        ``every=timedelta(...)`` or ``cron="0 3 * * *"`` (in UTC, or in ``timezone``, an IANA
        name) makes it periodic: one run per tick across every process sharing the store
        (see ``schedules.py``); ``catch_up=False`` skips a tick missed while no process ran
        instead of running it late. A periodic task takes no required arguments.
        """
        if callable(name):
            return self.task()(name)
        schedule = Schedule.declared(every=every, cron=cron, timezone=timezone, catch_up=catch_up)
        _check_flow(queue, priority)

        def register(func: Callable[P, R]) -> TaskHandle[P, R]:
            if isinstance(func, TaskHandle):  # registering another registry's task again
                func = func.definition.func
            task_name = name or func.__name__
            if task_name in self._tasks:
                raise ValueError(f"a task named {task_name!r} is already registered")
            arguments = arguments_model(task_name, func)
            limits = TaskLimits.declared(
                task_name,
                list(arguments.model_fields),
                concurrency=concurrency,
                concurrency_key=concurrency_key,
                rate_limit=rate_limit,
            )
            if schedule is not None:
                _check_periodic(task_name, arguments)
            definition = TaskDefinition(
                name=task_name,
                func=func,
                is_async=inspect.iscoroutinefunction(func),
                timeout=timeout,
                retries=Retries(retries, backoff, max_backoff),
                idempotent=idempotent,
                durable=durable,
                queue=queue,
                priority=priority,
                limits=limits,
                arguments=arguments,
                plain_arguments=plain(arguments),
                cleanup=cleanup,
                schedule=schedule,
            )
            self._tasks[task_name] = definition
            self._names = frozenset(self._tasks)
            return TaskHandle(definition)

        return register

    def sweeper(self, func: Sweeper) -> Sweeper:
        """Register ``func`` to remove what tasks left behind that no record needs any more.

        ``await func(get)`` runs in the app's context at startup, after each retention round
        and after ``tasks prune``; ``get(task_id)`` reads a record (None if there is none). It
        is the safety net for what a task's ``cleanup`` cannot reach: files of a process
        killed mid-task (its record ends ``interrupted``, or stays live until recovered), or
        of records deleted by a process on another machine. Use as ``@registry.sweeper``.
        """
        self._sweepers.append(func)
        return func

    @property
    def sweepers(self) -> tuple[Sweeper, ...]:
        """The functions registered with :meth:`sweeper`, in registration order."""
        return tuple(self._sweepers)

    def get(self, name: str) -> TaskDefinition:
        try:
            return self._tasks[name]
        except KeyError:
            known = ", ".join(sorted(self._tasks)) or "none"
            raise UnknownTask(f"no task is named {name!r}; registered tasks: {known}") from None

    @property
    def names(self) -> frozenset[str]:
        """The registered names: the tasks a runner of this registry claims from the store."""
        return self._names

    def __contains__(self, name: object) -> bool:
        return name in self._tasks

    def serving(self, queues: Collection[str] | None) -> Served:
        """The tasks of this registry that wait in ``queues`` (None: every queue)."""
        return Served(self, None if queues is None else frozenset(queues))

    @property
    def queues(self) -> frozenset[str]:
        """The queues its tasks wait in."""
        return frozenset(task.queue for task in self._tasks.values())

    def in_queue(self, queue: str) -> list[TaskDefinition]:
        """The tasks that wait in ``queue``, by name; ``UnknownQueue`` if none does."""
        found = [task for task in self if task.queue == queue]
        if not found:
            known = ", ".join(sorted(self.queues)) or "none"
            raise UnknownQueue(f"no task waits in a queue named {queue!r}; its queues: {known}")
        return found

    def __iter__(self) -> Iterator[TaskDefinition]:
        return iter(sorted(self._tasks.values(), key=lambda task: task.name))

    def __len__(self) -> int:
        return len(self._tasks)


class Served:
    """The part of a registry that one process runs: the tasks of the queues it serves.

    A process takes from the store only these tasks' names; a task of another queue that it
    holds all the same (a broker's message) is :class:`~tasks.UnknownTask` here, and so
    handed back for a process that serves its queue.
    """

    def __init__(self, registry: Registry, queues: frozenset[str] | None) -> None:
        self.registry = registry
        #: the queues served; None: every queue
        self.queues = queues
        self._names: frozenset[str] = frozenset()
        self._known: frozenset[str] | None = None

    def serves(self, definition: TaskDefinition) -> bool:
        return self.queues is None or definition.queue in self.queues

    @property
    def names(self) -> frozenset[str]:
        """The names of the tasks of the queues served: the only ones taken from the store."""
        known = self.registry.names
        if known is not self._known:  # tasks registered since: count them in
            self._known = known
            self._names = frozenset(task.name for task in self.registry if self.serves(task))
        return self._names

    def get(self, name: str) -> TaskDefinition:
        definition = self.registry.get(name)
        if not self.serves(definition):
            served = ", ".join(sorted(self.queues or ())) or "none"
            raise UnknownTask(
                f"task {name!r} waits in queue {definition.queue!r}, which this process does "
                f"not serve (it serves: {served})"
            )
        return definition


def _check_flow(queue: str, priority: int) -> None:
    check_queue(queue)
    try:
        check_priority(priority)
    except InvalidOptions as exc:
        raise ValueError(str(exc)) from None


def _check_periodic(name: str, arguments: type[pydantic.BaseModel]) -> None:
    required = [field for field, info in arguments.model_fields.items() if info.is_required()]
    if required:
        raise TypeError(
            f"periodic task {name!r} runs without arguments, but {', '.join(required)} "
            "has no default; give every parameter a default"
        )
