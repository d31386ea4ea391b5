"""Records as the SQL stores keep them: JSON in a text column, with a few fields in columns
of their own, and a row that cannot be read shown as damaged instead of stopping a read.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from .. import codec
from ..records import ErrorInfo, State, TaskRecord

__all__ = ["COLUMNS", "DAMAGED", "dump", "is_damaged", "load"]

log = logging.getLogger("tasks")

#: the columns :func:`load` reads, in its order
COLUMNS = "data, owner, cancel_requested, id, name, state"
#: the error type of a record whose stored JSON could not be read
DAMAGED = "damaged_record"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: damaged rows already logged by this process (bounded: a log line each, not a leak)
_reported: set[str] = set()
_REPORTED_MAX = 10_000


def dump(record: TaskRecord) -> str:
    """The JSON kept in the ``data`` column (owner and cancel flag have columns of their own)."""
    data = record.to_dict()
    del data["owner"], data["cancel_requested"]
    return codec.dumps(data)


def load(
    data: str, owner: str | None, cancel_requested: Any, task_id: str, name: str, state: str
) -> TaskRecord:
    """The record of a row. One whose JSON cannot be read comes back damaged: in its column's
    state, without arguments, with an error of type :data:`DAMAGED` (logged once)."""
    try:
        record = TaskRecord.from_dict(codec.loads_stored(data))
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        return _damaged(task_id, name, state, owner, exc)
    return record.replace(owner=owner, cancel_requested=bool(cancel_requested))


def is_damaged(record: TaskRecord) -> bool:
    """Whether ``record`` stands for a row whose JSON could not be read."""
    return record.error is not None and record.error.type == DAMAGED


def _damaged(task_id: str, name: str, state: str, owner: str | None, exc: Exception) -> TaskRecord:
    if task_id not in _reported and len(_reported) < _REPORTED_MAX:
        _reported.add(task_id)
        log.error("task %s (%s): its stored record cannot be read: %s", name, task_id, exc)
    try:
        known = State(state)
    except ValueError:
        known = State.FAILED
    message = (
        f"the stored record cannot be read ({type(exc).__name__}: {exc}); "
        "its arguments and outcome are lost, so it will not run"
    )
    return TaskRecord(
        id=task_id,
        name=name,
        kwargs={},
        state=known,
        error=ErrorInfo(DAMAGED, codec.clean(message[:500])),
        created_at=_EPOCH,
        # retention may delete it: nothing in it can be read
        finished_at=_EPOCH if known.terminal else None,
        owner=owner,
    )
