"""The shapes of the API's JSON, as pydantic models: the source of the OpenAPI schemas.

The views build their JSON from the records themselves (``TaskRecord.to_dict``); these models
only describe it, and tests/unit/test_openapi.py checks that real answers fit them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["MODELS"]

StateName = Literal["scheduled", "queued", "running", "succeeded", "failed", "cancelled"]


class _Shape(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorDetail(_Shape):
    """What went wrong, and what to do about it."""

    code: str = Field(description="a stable snake_case code, such as task_not_found")
    message: str = Field(description="what happened and how to fix it")


class Error(_Shape):
    """Every error answer of the API."""

    error: ErrorDetail


class Progress(_Shape):
    """How far a running task has got, as the task reported it."""

    current: float
    total: float | None
    message: str | None


class TaskError(_Shape):
    """Why a task (or its last attempt) failed."""

    type: str = Field(description="the exception's class name, or timeout, interrupted, ...")
    message: str
    traceback: str | None = Field(None, description="the failure's traceback, when recorded")


class StepOutcome(_Shape):
    """One step of a task (``current_task().step``), as its latest run left it."""

    name: str = Field(description="unique within one run of the task")
    state: Literal["running", "succeeded", "failed"] = Field(
        description="running: under way, or cut short (it runs again on a re-run)"
    )
    started_at: datetime
    finished_at: datetime | None
    result: Any = Field(description="its return value as JSON, once succeeded")
    error: TaskError | None
    digest: str | None = Field(description="identifies the arguments it ran with")


class Task(_Shape):
    """One task's record."""

    id: str
    name: str
    kwargs: dict[str, Any] = Field(description="the arguments, as stored (defaults filled in)")
    state: StateName
    progress: Progress | None
    result: Any = Field(description="the return value, once succeeded")
    error: TaskError | None
    attempts: int = Field(ge=0)
    max_attempts: int = Field(ge=1)
    timeout: float | None = Field(description="seconds one attempt may take")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    owner: str | None = Field(
        description="the worker process holding a live task, or the one that ended it"
    )
    cancel_requested: bool
    run_at: datetime | None = Field(description="when a delayed task is due (UTC)")
    idempotency_key: str | None = Field(description="the key it was submitted with")
    schedule: str | None = Field(description="the periodic task whose tick made this run")
    tick: datetime | None = Field(description="the tick of that schedule (UTC)")
    parent: str | None = Field(description="the id of the task whose run submitted this one")
    children: list[str] = Field(description="the ids of the tasks it submitted, in order")
    steps: list[StepOutcome] = Field(description="its steps, in the order they first ran")
    queue: str = Field(description="the queue it waits in")
    priority: int = Field(description="higher runs first among its queue's waiting tasks")
    trace: dict[str, str] | None = Field(
        description="the W3C trace context of its submission (traceparent, tracestate), which "
        "its attempts' spans continue; null when the submitting process did not trace"
    )
    waiting_for_runner: str | None = Field(
        None,
        description="in GET /tasks/<id> only: for a live task of a name this app does not "
        "run, that it waits for a process sharing the store that runs it; null otherwise",
    )


class TaskList(_Shape):
    """Tasks, newest first."""

    tasks: list[Task]


class Parameter(_Shape):
    """One argument of a task."""

    name: str
    type: str
    required: bool
    default: Any


class Period(_Shape):
    """When a periodic task runs: every so many seconds, or at each match of a cron expression."""

    every: float | None = Field(description="seconds between ticks, from 1970-01-01 00:00 UTC")
    cron: str | None = Field(description="a cron expression, in timezone")
    timezone: str = Field(description="the IANA time zone of cron; UTC for every")
    catch_up: bool = Field(description="whether a tick missed in downtime runs once, late")


class TaskType(_Shape):
    """A registered task."""

    name: str
    description: str | None
    parameters: list[Parameter]
    runs_in: Literal["event_loop", "thread"]
    timeout: float | None
    retries: int
    idempotent: bool
    durable: bool = Field(description="resumed after a crash, its succeeded steps skipped")
    queue: str = Field(description="the queue its tasks wait in")
    priority: int = Field(description="its tasks' priority, unless a submission gives one")
    concurrency: int | None = Field(
        description="at most this many of its tasks run at once, across every process"
    )
    concurrency_key: str | None = Field(
        description="the argument whose each value has its own concurrency limit"
    )
    rate_limit: str | None = Field(
        description='at most N of its tasks start in any such period: "N/s", "N/m", "N/h"'
    )
    schedule: Period | None = Field(description="when it runs by itself; null: on request only")


class TaskTypes(_Shape):
    """Every registered task."""

    task_types: list[TaskType]


class LastRun(_Shape):
    """A schedule's latest tick that a process handled."""

    tick: datetime
    task_id: str | None = Field(description="its run; null if the tick was skipped")
    state: StateName | None = Field(description="that run's state; null once deleted")


class Schedule(Period):
    """A periodic task, its last and its next run."""

    name: str = Field(description="the task's name")
    last_run: LastRun | None = Field(description="null until the first tick is handled")
    next_run: datetime = Field(description="the next tick (UTC)")


class ScheduleList(_Shape):
    """Every periodic task."""

    schedules: list[Schedule]


class QueueLimit(_Shape):
    """The limits of one task of a queue, across every process sharing the store."""

    task: str
    concurrency: int | None = Field(description="at most this many run at once")
    concurrency_key: str | None = Field(
        description="the argument whose each value has its own concurrency limit"
    )
    rate_limit: str | None = Field(description='at most N starts per period: "N/s", "N/m", "N/h"')


class Queue(_Shape):
    """A queue of the app's tasks, as the store holds it for every process sharing it."""

    name: str
    paused: bool = Field(description="no process starts a task of it until it is resumed")
    waiting: int = Field(ge=0, description="its queued tasks, whichever process holds them")
    running: int = Field(ge=0, description="its running tasks, in every process")
    tasks: list[str] = Field(description="the names of the registered tasks that wait in it")
    limits: list[QueueLimit] = Field(
        description="the concurrency and rate limits of its tasks, for those that have any"
    )


class QueueList(_Shape):
    """Every queue a registered task waits in, by name."""

    queues: list[Queue]


class StoreState(_Shape):
    """Whether the task store answers this worker's writes."""

    status: Literal["ok", "failing"]
    #: the store's error, while it fails
    error: str | None = None
    #: seconds since the store began to fail
    failing_for: float | None = Field(default=None, ge=0)


class Health(_Shape):
    """Whether this worker takes tasks, how many it runs and holds waiting, and whether
    its store answers (``503`` with ``store_failing`` while it does not)."""

    status: Literal["ok", "draining", "store_failing"]
    running: int = Field(ge=0)
    waiting: int = Field(ge=0)
    worker: str
    store: StoreState
    waiting_for_runner: dict[str, int] | None = Field(
        description="queued tasks of names this app does not run, by name: they wait for "
        "a process that runs them (another app or version sharing the store); null while "
        "draining, while the store fails, or when it does not answer at once"
    )


#: every model the description refers to
MODELS: tuple[type[BaseModel], ...] = (
    Error,
    Task,
    TaskList,
    TaskTypes,
    ScheduleList,
    QueueList,
    Health,
)
