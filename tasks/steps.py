"""Steps of a task: how one run matches the steps an earlier run stored.

A step is found again by its name. It is skipped when it has succeeded before, and refused
when its arguments differ from those it was stored with (their :func:`digest`); every
other step runs, and its entry says ``running`` until it ends. The functions here work on a
record's tuple of :class:`~tasks.records.Step` and never touch a store: the runner writes
the record they return (``tasks/engine/workflow.py``), and :class:`InMemory` keeps them for
a task run without one (``tasks.testing.run_task``).
"""

from __future__ import annotations

import hashlib
from typing import Any

from pydantic_core import PydanticSerializationError, to_jsonable_python

from . import codec
from .errors import WorkflowChanged
from .records import ErrorInfo, State, Step, TaskRecord, utcnow

__all__ = ["InMemory", "begin", "digest", "end", "stored_form"]

#: characters of a step's error message kept on the record
MAX_MESSAGE = 2000


def digest(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """A short fingerprint of a step's arguments: equal arguments, equal digests.

    Values JSON cannot hold (a connection, a client) count by their type only, so that one
    made anew on each run does not make the step look changed.
    """
    value = to_jsonable_python([args, kwargs], fallback=_type_name)
    text = codec.dumps(_sorted(value))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def stored_form(name: str, value: Any) -> Any:
    """``value`` as a step stores it and a later run reads it back: its JSON form."""
    try:
        return codec.clean(to_jsonable_python(value))
    except PydanticSerializationError as exc:
        raise TypeError(
            f"step {name!r} returned a value that cannot be stored as JSON: {exc}"
        ) from None


def begin(
    steps: tuple[Step, ...], name: str, digest: str, used: set[str]
) -> tuple[tuple[Step, ...], Step | None]:
    """Start step ``name`` of a run that has used the names in ``used`` so far.

    Returns the steps with it marked running and None, or the steps unchanged and the step
    as stored if it succeeded before (it is not run again).
    """
    if name in used:
        raise WorkflowChanged(
            f"step {name!r} was already used in this run; step names are unique within a "
            f"run (in a loop, number them: f'{name}-{{i}}')"
        )
    used.add(name)
    found = next((step for step in steps if step.name == name), None)
    if found is not None and found.digest is not None and found.digest != digest:
        raise WorkflowChanged(
            f"step {name!r} was stored by an earlier run with other arguments; a re-run must "
            "give each step the arguments it first ran with (or the step a new name)"
        )
    if found is not None and found.state is State.SUCCEEDED:
        return steps, found
    running = Step(name, State.RUNNING, started_at=utcnow(), digest=digest)
    return _put(steps, running), None


def end(
    steps: tuple[Step, ...], name: str, result: Any, error: BaseException | None
) -> tuple[tuple[Step, ...], bool]:
    """The steps with ``name`` ended: succeeded with ``result``, or failed with ``error``;
    and whether its outcome must be stored now (a cancelled step stays as it was)."""
    found = next((step for step in steps if step.name == name), None)
    if found is None:
        return steps, False
    if error is None:
        ended = Step(name, State.SUCCEEDED, found.started_at, utcnow(), result, None, found.digest)
    elif isinstance(error, Exception):
        message = (str(error) or repr(error))[:MAX_MESSAGE]
        info = ErrorInfo(type(error).__name__, codec.clean(message))
        ended = Step(name, State.FAILED, found.started_at, utcnow(), None, info, found.digest)
    else:
        return steps, False  # cut short (cancelled, or the process stopping): in flight
    return _put(steps, ended), True


def _put(steps: tuple[Step, ...], step: Step) -> tuple[Step, ...]:
    """``steps`` with ``step`` in place of the one of its name, or added at the end."""
    for index, found in enumerate(steps):
        if found.name == step.name:
            return (*steps[:index], step, *steps[index + 1 :])
    return (*steps, step)


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _sorted(value[key]) for key in sorted(value, key=str)}
    if isinstance(value, list):
        return [_sorted(item) for item in value]
    return value


def _type_name(value: Any) -> str:
    return f"<{type(value).__module__}.{type(value).__qualname__}>"


class InMemory:
    """Steps kept in memory, for a task run outside a runner: each run of it starts anew
    unless given the steps of an earlier one. It has no children to wait for."""

    def __init__(self, steps: tuple[Step, ...] = ()) -> None:
        self.steps = steps
        self._used: set[str] = set()

    async def begin_step(self, name: str, digest: str) -> Step | None:
        self.steps, stored = begin(self.steps, name, digest, self._used)
        return stored

    async def end_step(self, name: str, result: Any, error: BaseException | None) -> None:
        self.steps, _ = end(self.steps, name, result, error)

    async def wait(self, task_ids: list[str]) -> list[TaskRecord]:
        raise RuntimeError(
            "waiting for other tasks needs the runner: run the task through the app "
            "(tasks.testing.running), not on its own"
        )
