"""The PostgreSQL store's SQL for later work: delayed tasks that come due, and schedule ticks.

Each write runs in a batch's transaction and numbers its rows there (see ``batches.py``);
due tasks are locked with ``SKIP LOCKED``, so that processes never take the same one.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from ...records import State, TaskRecord
from ..protocol import ScheduleMark
from .batches import NUMBERS, Later, Sequence
from .rows import COLUMNS, dump, hold_lease, insert, load, named
from .session import Session

__all__ = ["advance_schedule", "marks", "take_due"]


async def take_due(
    conn: Session,
    sequence: Sequence,
    *,
    owner: str,
    lease: float,
    now: datetime,
    limit: int,
    names: Collection[str] | None,
) -> list[TaskRecord]:
    await hold_lease(conn, sequence, owner, lease)
    only, named_params = named(names)
    cursor = await conn.execute(
        f"SELECT id, {COLUMNS} FROM quart_tasks WHERE state = 'scheduled' AND run_at <= %s"
        f"{only} ORDER BY run_at LIMIT %s FOR UPDATE SKIP LOCKED",
        (now.timestamp(), *named_params, limit),
    )
    records = [load(*row).replace(state=State.QUEUED) for _, *row in await cursor.fetchall()]
    if records:
        await conn.execute(
            f"WITH {NUMBERS} UPDATE quart_tasks t SET state = 'queued', owner = %s, "
            "seq = numbers.base + v.k, data = v.data FROM numbers, "
            "unnest(%s::text[], %s::text[]) WITH ORDINALITY AS v(id, data, k) WHERE t.id = v.id",
            (
                *sequence.reserve(len(records)),
                owner,
                [record.id for record in records],
                [dump(record) for record in records],
            ),
        )
    return [record.replace(owner=owner) for record in records]


async def advance_schedule(
    conn: Session,
    sequence: Sequence,
    *,
    name: str,
    tick: datetime,
    run: TaskRecord | None,
    owner: str | None,
    lease: float,
) -> bool:
    cursor = await conn.execute(
        "INSERT INTO quart_tasks_schedules (name, last_tick, task_id) VALUES (%s, %s, %s) "
        "ON CONFLICT (name) DO UPDATE SET last_tick = excluded.last_tick, "
        "task_id = excluded.task_id WHERE quart_tasks_schedules.last_tick < excluded.last_tick "
        "RETURNING name",
        (name, tick.timestamp(), run.id if run is not None else None),
    )
    if await cursor.fetchone() is None:
        return False  # another process has handled this tick, or a later one
    if run is not None:
        if owner is not None:
            await hold_lease(conn, sequence, owner, lease)
        else:
            sequence.work = True
        stored: Later = await insert(conn, run, owner, sequence)
        await stored.read()
    return True


def marks(rows: list[tuple[Any, ...]]) -> list[ScheduleMark]:
    return [
        ScheduleMark(name, datetime.fromtimestamp(tick, UTC), task_id)
        for name, tick, task_id in rows
    ]
