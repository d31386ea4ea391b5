"""The PostgreSQL store's SQL for later work: delayed tasks that come due, and schedule ticks.

Each write runs in the batch's transaction, which every process's writes take one after
another (see ``batches.py``); due tasks are locked with ``SKIP LOCKED`` besides.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from ...records import State, TaskRecord
from ..protocol import ScheduleMark
from .batches import Later, Sequence
from .pool import Connection
from .rows import COLUMNS, dump, hold_lease, insert, load, named

__all__ = ["advance_schedule", "marks", "take_due"]


async def take_due(
    conn: Connection,
    sequence: Sequence,
    *,
    owner: str,
    lease: float,
    now: datetime,
    limit: int,
    names: Collection[str] | None,
) -> list[TaskRecord]:
    await hold_lease(conn, owner, lease)
    only, named_params = named(names)
    cursor = await conn.execute(
        f"SELECT id, {COLUMNS} FROM quart_tasks WHERE state = 'scheduled' AND run_at <= %s"
        f"{only} ORDER BY run_at LIMIT %s FOR UPDATE SKIP LOCKED",
        (now.timestamp(), *named_params, limit),
    )
    records = [load(*row).replace(state=State.QUEUED) for _, *row in await cursor.fetchall()]
    if records:
        await conn.execute(
            "UPDATE quart_tasks t SET state = 'queued', owner = %s, seq = v.seq, data = v.data "
            "FROM unnest(%s::text[], %s::bigint[], %s::text[]) AS v(id, seq, data) "
            "WHERE t.id = v.id",
            (
                owner,
                [record.id for record in records],
                sequence.take(len(records)),
                [dump(record) for record in records],
            ),
        )
    return [record.replace(owner=owner) for record in records]


async def advance_schedule(
    conn: Connection,
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
            await hold_lease(conn, owner, lease)
        else:
            sequence.work = True
        (seq,) = sequence.take()
        stored: Later = await insert(conn, run, owner, seq)
        await stored.read()
    return True


def marks(rows: list[tuple[Any, ...]]) -> list[ScheduleMark]:
    return [
        ScheduleMark(name, datetime.fromtimestamp(tick, UTC), task_id)
        for name, tick, task_id in rows
    ]
