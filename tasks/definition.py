"""A registered task: its function, how it runs, and the model that checks its arguments."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pydantic
from pydantic import ConfigDict

from . import codec
from .errors import InvalidArguments
from .limits import TaskLimits
from .records import TaskRecord
from .timing.periodic import Schedule

__all__ = ["Retries", "TaskDefinition", "arguments_model", "plain"]

_ARGS_CONFIG = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

_NO_LIMITS = TaskLimits()

#: problems listed in one error message; a body with thousands of bad keys gets a short answer
MAX_PROBLEMS = 10


@dataclass(frozen=True, slots=True)
class Retries:
    """How many times to retry a failed attempt, and how long to wait between attempts."""

    #: extra attempts after the first one fails
    retries: int = 0
    #: seconds before the first retry; doubled for each retry after it
    backoff: float = 1.0
    #: upper bound for one backoff delay, in seconds
    max_backoff: float = 60.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        return float(min(self.max_backoff, self.backoff * 2 ** (attempt - 1)))


@dataclass(frozen=True, slots=True)
class TaskDefinition:
    """A registered task: its function, how it runs, and the model that checks its arguments."""

    name: str
    func: Callable[..., Any]
    is_async: bool
    timeout: float | None
    retries: Retries
    idempotent: bool
    arguments: type[pydantic.BaseModel] = field(repr=False)
    #: resumed after a crash, its succeeded steps skipped, instead of ending ``interrupted``
    durable: bool = False
    #: the queue its tasks wait in; a process runs only the queues it serves
    queue: str = "default"
    #: higher runs first among its queue's waiting tasks (a submission may set its own)
    priority: int = 0
    #: how many may run at once and how often one may start, across every process; None: no
    #: limit
    limits: TaskLimits | None = None
    #: every parameter is a JSON scalar (or ``Any``): stored arguments are the Python values
    plain_arguments: bool = field(default=False, repr=False)
    #: called with a record of this task when retention deletes it, to remove what the task
    #: left behind (a file it wrote, say); runs in a worker thread
    cleanup: Callable[[TaskRecord], None] | None = field(default=None, repr=False)
    #: when the task runs by itself (``every=`` or ``cron=``); None: only when submitted
    schedule: Schedule | None = None

    @property
    def resumable(self) -> bool:
        """Whether a run cut short by a crash runs again (``durable`` or ``idempotent``)."""
        return self.durable or self.idempotent

    def validate(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """Check ``kwargs`` against the signature; return them in their stored JSON form."""
        if not kwargs and not self.arguments.model_fields:
            return {}  # a task without parameters, called without arguments
        # Checked before pydantic, which writes an infinite number as null and fails on a
        # lone surrogate in a key.
        if (found := codec.problem(kwargs)) is not None:
            raise InvalidArguments(f"task {self.name!r}: argument {found}")
        return self._model(kwargs).model_dump(mode="json")

    def bind(self, stored: dict[str, Any]) -> dict[str, Any]:
        """Turn stored JSON arguments back into the Python values the function expects."""
        if self.plain_arguments:
            return stored  # checked by validate() when submitted; nothing to convert
        model = self._model(stored)
        return {name: getattr(model, name) for name in type(model).model_fields}

    def parameters(self) -> list[dict[str, Any]]:
        """The parameters as JSON: name, type, whether required, default."""
        described = []
        for name, info in self.arguments.model_fields.items():
            required = info.is_required()
            described.append(
                {
                    "name": name,
                    "type": _type_name(info.annotation),
                    "required": required,
                    "default": None if required else info.get_default(call_default_factory=True),
                }
            )
        return described

    def to_dict(self) -> dict[str, Any]:
        """The task as JSON: name, description, parameters and how it runs."""
        doc = inspect.getdoc(self.func) or ""
        summary = " ".join(doc.split("\n\n", 1)[0].split()).replace("``", "")
        return {
            "name": self.name,
            "description": summary or None,
            "parameters": self.parameters(),
            "runs_in": "event_loop" if self.is_async else "thread",
            "timeout": self.timeout,
            "retries": self.retries.retries,
            "idempotent": self.idempotent,
            "durable": self.durable,
            "queue": self.queue,
            "priority": self.priority,
            **(self.limits or _NO_LIMITS).to_dict(),
            "schedule": self.schedule.to_dict() if self.schedule is not None else None,
        }

    def _model(self, kwargs: dict[str, Any]) -> pydantic.BaseModel:
        try:
            return self.arguments.model_validate(kwargs)
        except pydantic.ValidationError as exc:
            raise InvalidArguments(_describe(self.name, exc, self.arguments)) from None


def arguments_model(name: str, func: Callable[..., Any]) -> type[pydantic.BaseModel]:
    fields: dict[str, Any] = {}
    hints = _resolved_hints(func)
    for parameter in inspect.signature(func).parameters.values():
        if parameter.kind in (parameter.POSITIONAL_ONLY, parameter.VAR_POSITIONAL):
            raise TypeError(
                f"task {name!r}: parameter {parameter.name!r} cannot be passed by keyword; "
                "tasks take keyword arguments only"
            )
        if parameter.kind is parameter.VAR_KEYWORD:
            raise TypeError(
                f"task {name!r}: **{parameter.name} is not supported; name each argument"
            )
        annotation = hints.get(parameter.name, Any)
        default = ... if parameter.default is parameter.empty else parameter.default
        fields[parameter.name] = (annotation, default)
    model: type[pydantic.BaseModel] = pydantic.create_model(
        f"{name}_arguments", __config__=_ARGS_CONFIG, **fields
    )
    return model


_SCALARS = (str, int, float, bool, Any)


def plain(model: type[pydantic.BaseModel]) -> bool:
    """Whether each field's JSON form is already its Python value (no metadata, no unions)."""
    return all(
        info.annotation in _SCALARS and not info.metadata for info in model.model_fields.values()
    )


def _resolved_hints(func: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(func, include_extras=True)
    except Exception as exc:
        raise TypeError(f"cannot resolve the type hints of {func.__qualname__}: {exc}") from exc


def _describe(task: str, error: pydantic.ValidationError, model: type[pydantic.BaseModel]) -> str:
    problems = []
    for item in error.errors()[:MAX_PROBLEMS]:
        where = ".".join(str(part) for part in item["loc"]) or "arguments"
        if item["type"] == "missing":
            problems.append(f"argument {where!r} is required")
        elif item["type"] == "extra_forbidden":
            accepted = ", ".join(model.model_fields) or "no arguments"
            problems.append(f"unexpected argument {where!r} (accepted: {accepted})")
        else:
            problems.append(f"argument {where!r}: {item['msg']}")
    if error.error_count() > MAX_PROBLEMS:
        problems.append(f"and {error.error_count() - MAX_PROBLEMS} more problems")
    return f"task {task!r}: " + "; ".join(problems)


def _type_name(annotation: Any) -> str:
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")
