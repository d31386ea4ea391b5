"""Accepting a submission made in this process: the path of :meth:`Runner.accept
<tasks.engine.runner.Runner.accept>` without a caller's connection.

The submission is traced (when the app traces), made a child if a task running here made it
(see :mod:`.workflow`), checked against the room left (the waiting queue, or the delayed
tasks' limit), then stored and dispatched by the :class:`~.intake.Intake`.
"""

from __future__ import annotations

from typing import Any, Protocol

from .. import tracing
from ..definition import TaskDefinition
from ..errors import IdempotencyConflict, Unavailable
from ..idempotency import Submitted
from ..options import SubmitOptions
from ..records import State
from ..registry import Served
from . import delays
from .intake import Intake, new_record
from .workflow import parent_here

__all__ = ["accept"]


class _Runner(delays.Runs, Protocol):
    """What accepting a submission needs of the runner."""

    owner: str
    holds: bool
    served: Served

    def refusal(self) -> Unavailable | None: ...


async def accept(
    runner: _Runner,
    intake: Intake,
    definition: TaskDefinition,
    arguments: dict[str, Any],
    options: SubmitOptions,
    *,
    enqueue: bool,
) -> Submitted:
    """Store a submission of checked ``arguments`` through ``intake``, within a producer span
    if the app traces; see :meth:`Runner.accept <tasks.engine.runner.Runner.accept>`."""
    producer = tracing.start_producer(definition.name)  # None unless the app traces
    if producer is None:
        return await _accept(runner, intake, definition, arguments, options, enqueue, None)
    try:
        submitted = await _accept(runner, intake, definition, arguments, options, enqueue, producer)
    except BaseException as exc:
        tracing.end_producer(producer, exc)
        raise
    tracing.end_producer(producer)
    return submitted


async def _accept(
    runner: _Runner,
    intake: Intake,
    definition: TaskDefinition,
    arguments: dict[str, Any],
    options: SubmitOptions,
    enqueue: bool,
    producer: Any,
) -> Submitted:
    parent = parent_here(runner.owner)  # submitted by a task running here: its child
    if parent is not None:
        options = parent.child_options(options)
    record = new_record(definition, arguments, options)
    if producer is not None:
        record = tracing.produced(producer, record)
    if parent is not None:
        record = record.replace(parent=parent.task_id)
    later = record.state is State.SCHEDULED
    # a task of a queue this runner does not serve waits in the store for one that does
    enqueue = enqueue and not later and runner.served.serves(definition)
    if later:
        await delays.check_room(runner)
    elif enqueue and (refusal := runner.refusal()) is not None:
        raise refusal
    record = record.replace(owner=runner.owner if enqueue and runner.holds else None)
    if parent is None:
        return await intake.accept(record, enqueue=enqueue)
    try:
        submitted = await intake.accept(record, enqueue=enqueue)
    except IdempotencyConflict as exc:
        raise parent.changed(options.key) or exc from None
    parent.add_child(submitted.record)
    return submitted
