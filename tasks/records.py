"""Task records: the durable, JSON-shaped account of one task."""

from __future__ import annotations

import dataclasses
import os
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

__all__ = ["ErrorInfo", "Progress", "State", "Step", "TaskRecord", "utcnow"]


class State(StrEnum):
    """Where a task is in its life."""

    #: accepted and stored to run later, at ``run_at``; held by nobody until then
    SCHEDULED = "scheduled"
    #: accepted and stored; waiting for a free slot (or for a retry's backoff)
    QUEUED = "queued"
    #: an attempt is executing
    RUNNING = "running"
    #: the function returned; ``result`` holds its value
    SUCCEEDED = "succeeded"
    #: the last attempt raised, timed out or was interrupted; ``error`` says why
    FAILED = "failed"
    #: cancelled on request before it could finish
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset({State.SUCCEEDED, State.FAILED, State.CANCELLED})


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Progress:
    """How far a running task has got, as reported by the task itself."""

    current: float
    total: float | None = None
    message: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"current": self.current, "total": self.total, "message": self.message}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Progress:
        return cls(data["current"], data.get("total"), data.get("message"))


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """Why a task failed: the exception type (or a reason such as ``timeout``) and its message.

    ``traceback`` is the end of the traceback through the task's own code, for exceptions the
    task raised; None for every other reason (a timeout, an interrupted run).
    """

    type: str
    message: str
    traceback: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return {"type": self.type, "message": self.message, "traceback": self.traceback}


@dataclass(frozen=True, slots=True)
class Step:
    """One named step of a task (``current_task().step(...)``): its outcome, once stored.

    ``state`` is ``running`` while it runs (or if its run was cut short), then ``succeeded``
    with its JSON ``result`` or ``failed`` with its ``error``. ``digest`` identifies the
    arguments it ran with, so that a re-run giving the same name other arguments is refused.
    """

    name: str
    state: State
    started_at: datetime
    finished_at: datetime | None = None
    result: Any = None
    error: ErrorInfo | None = None
    digest: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "state": self.state.value,
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
            "result": self.result,
            "error": self.error.to_dict() if self.error else None,
            "digest": self.digest,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Step:
        return cls(
            name=data["name"],
            state=State(data["state"]),
            started_at=_parse(data["started_at"]) or utcnow(),
            finished_at=_parse(data.get("finished_at")),
            result=data.get("result"),
            error=ErrorInfo(**data["error"]) if data.get("error") else None,
            digest=data.get("digest"),
        )


@dataclass(frozen=True, slots=True)
class TaskRecord:
    """One task, from acceptance to its terminal state. Immutable: transitions return copies."""

    id: str
    name: str
    kwargs: dict[str, Any]
    state: State = State.QUEUED
    progress: Progress | None = None
    result: Any = None
    error: ErrorInfo | None = None
    attempts: int = 0
    max_attempts: int = 1
    timeout: float | None = None
    created_at: datetime = field(default_factory=utcnow)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    #: the runner (``host:pid:token``) that holds the task; None while nobody does
    owner: str | None = None
    #: a cancel was asked for, possibly through another worker; the owner acts on it
    cancel_requested: bool = False
    #: when a delayed task is due (UTC); None for a task submitted to run at once
    run_at: datetime | None = None
    #: the client's idempotency key: one task per key in the store
    idempotency_key: str | None = None
    #: the periodic schedule (its task's name) whose tick produced this run, if any
    schedule: str | None = None
    #: the tick of ``schedule`` this run is for (UTC)
    tick: datetime | None = None
    #: the id of the task whose run submitted this one; None for a task submitted otherwise
    parent: str | None = None
    #: the tasks this one submitted while it ran (its children), in submission order
    children: tuple[str, ...] = ()
    #: the steps it ran (``current_task().step``), in the order they first ran
    steps: tuple[Step, ...] = ()
    #: the queue it waits in: only processes that serve that queue run it
    queue: str = "default"
    #: higher runs first among the tasks waiting in its queue; equal ones in arrival order
    priority: int = 0
    #: the W3C trace context of its submission (``traceparent``, ``tracestate``), which its
    #: attempts continue; None when the submitting process did not trace
    trace: dict[str, str] | None = None

    @classmethod
    def new(
        cls,
        name: str,
        kwargs: dict[str, Any],
        *,
        max_attempts: int = 1,
        timeout: float | None = None,
        owner: str | None = None,
    ) -> TaskRecord:
        return cls(
            id=new_task_id(),
            name=name,
            kwargs=kwargs,
            max_attempts=max_attempts,
            timeout=timeout,
            owner=owner,
        )

    def replace(self, **changes: Any) -> TaskRecord:
        """A copy with ``changes``; several times faster than ``dataclasses.replace``."""
        values = {name: getattr(self, name) for name in _FIELDS}
        values.update(changes)
        return TaskRecord(**values)

    def started(self) -> TaskRecord:
        return self.replace(
            state=State.RUNNING,
            attempts=self.attempts + 1,
            started_at=utcnow(),
            finished_at=None,
        )

    def finished(
        self, state: State, *, result: Any = None, error: ErrorInfo | None = None
    ) -> TaskRecord:
        # a task that has ended is held by nobody
        return self.replace(
            state=state, result=result, error=error, finished_at=utcnow(), owner=None
        )

    def to_dict(self) -> dict[str, Any]:
        """The record as the JSON object the API returns."""
        return {
            "id": self.id,
            "name": self.name,
            "kwargs": self.kwargs,
            "state": self.state.value,
            "progress": self.progress.to_dict() if self.progress else None,
            "result": self.result,
            "error": self.error.to_dict() if self.error else None,
            "attempts": self.attempts,
            "max_attempts": self.max_attempts,
            "timeout": self.timeout,
            "created_at": _iso(self.created_at),
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
            "owner": self.owner,
            "cancel_requested": self.cancel_requested,
            "run_at": _iso(self.run_at),
            "idempotency_key": self.idempotency_key,
            "schedule": self.schedule,
            "tick": _iso(self.tick),
            "parent": self.parent,
            "children": list(self.children),
            "steps": [step.to_dict() for step in self.steps],
            "queue": self.queue,
            "priority": self.priority,
            "trace": self.trace,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaskRecord:
        return cls(
            id=data["id"],
            name=data["name"],
            kwargs=data["kwargs"],
            state=State(data["state"]),
            progress=Progress.from_dict(data["progress"]) if data.get("progress") else None,
            result=data.get("result"),
            error=ErrorInfo(**data["error"]) if data.get("error") else None,
            attempts=data.get("attempts", 0),
            max_attempts=data.get("max_attempts", 1),
            timeout=data.get("timeout"),
            created_at=_parse(data["created_at"]) or utcnow(),
            started_at=_parse(data.get("started_at")),
            finished_at=_parse(data.get("finished_at")),
            owner=data.get("owner"),
            cancel_requested=data.get("cancel_requested", False),
            run_at=_parse(data.get("run_at")),
            idempotency_key=data.get("idempotency_key"),
            schedule=data.get("schedule"),
            tick=_parse(data.get("tick")),
            parent=data.get("parent"),
            children=tuple(data.get("children") or ()),
            steps=tuple(Step.from_dict(step) for step in data.get("steps") or ()),
            queue=data.get("queue") or "default",
            priority=data.get("priority") or 0,
            trace=_trace(data.get("trace")),
        )


_FIELDS = tuple(field.name for field in dataclasses.fields(TaskRecord))


def _trace(value: Any) -> dict[str, str] | None:
    """A stored trace context, if it is one (text keys and values)."""
    if isinstance(value, dict) and all(
        isinstance(key, str) and isinstance(item, str) for key, item in value.items()
    ):
        return value
    return None


# Task ids are 128 random bits. A generator seeded once from the OS (and again in a forked
# child) gives them without a system call per task, which on some machines costs ~10 µs.
_ids = random.Random(os.urandom(32))
os.register_at_fork(after_in_child=lambda: _ids.seed(os.urandom(32)))


def new_task_id() -> str:
    return f"{_ids.getrandbits(128):032x}"


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z") if moment else None


def _parse(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None
