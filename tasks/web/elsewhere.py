"""Tasks this app cannot run: how the API, ``/healthz`` and the dashboard show them.

Processes take from the store only the tasks whose names their registry has, so a task of
another app sharing the store, or of the other version during a rolling deploy, waits for a
process that runs its name. Such tasks are shown as waiting for a runner, never failed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection

from ..errors import StoreUnavailable
from ..records import State, TaskRecord
from ..store import RecordReader

__all__ = ["HEALTH_STORE_WAIT", "queued_elsewhere", "waiting_for_runner"]

log = logging.getLogger("tasks")

#: seconds ``/healthz`` waits for the store's count; past that the count is null
HEALTH_STORE_WAIT = 1.0


def waiting_for_runner(record: TaskRecord, names: Collection[str]) -> str | None:
    """Why a live task of a name outside ``names`` waits, or None for every other task.

    A running task with an owner runs (or ran until a crash) in a process that has its name,
    so it is not said to wait.
    """
    if record.name in names or record.state.terminal:
        return None
    if record.state is State.RUNNING and record.owner is not None:
        return None
    return (
        f"waiting for a process that runs {record.name}: this app has no task of that name, "
        "so it leaves the task to a process sharing the store that has (another app, or "
        "another version of this one during a deploy)"
    )


async def queued_elsewhere(records: RecordReader, names: Collection[str]) -> dict[str, int] | None:
    """How many queued tasks wait for a process that runs their name, by name; None if the
    store does not answer within :data:`HEALTH_STORE_WAIT`.

    One grouped count of the queued records, which the state index finds without reading
    the finished ones.
    """
    try:
        async with asyncio.timeout(HEALTH_STORE_WAIT):
            counts = await records.count_by_name(State.QUEUED)
    except (StoreUnavailable, TimeoutError) as exc:
        log.debug("health: the queued tasks could not be counted: %s", exc)
        return None
    return {name: count for name, count in sorted(counts.items()) if name not in names}
