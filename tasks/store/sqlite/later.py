"""The SQLite store's SQL for later work: delayed tasks that come due, and schedule ticks.

Each function is an operation for the store's connection (see ``connection.py``); those that
write run inside the store's write batch, so they see every write committed before them, in
this process or another: two processes cannot both take one due task or one tick.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Collection
from datetime import UTC, datetime

from ...records import State, TaskRecord
from ..protocol import ScheduleMark
from .rows import COLUMNS, dump, hold_lease, insert, load, named

__all__ = [
    "advance_schedule",
    "count",
    "count_by_name",
    "next_due",
    "schedule_marks",
    "take_due",
]

TakeSeq = Callable[[sqlite3.Connection], int]


def take_due(
    conn: sqlite3.Connection,
    take_seq: TakeSeq,
    *,
    owner: str,
    lease: float,
    now: datetime,
    limit: int,
    names: Collection[str] | None,
) -> list[TaskRecord]:
    hold_lease(conn, owner, lease)
    only, named_params = named(names)
    rows = conn.execute(
        f"SELECT id, {COLUMNS} FROM tasks WHERE state = 'scheduled' AND run_at <= ?{only} "
        "ORDER BY run_at LIMIT ?",
        (now.timestamp(), *named_params, limit),
    ).fetchall()
    taken = []
    for task_id, *row in rows:
        record = load(*row).replace(state=State.QUEUED)
        conn.execute(
            "UPDATE tasks SET state = 'queued', owner = ?, seq = ?, data = ? WHERE id = ?",
            (owner, take_seq(conn), dump(record), task_id),
        )
        taken.append(record.replace(owner=owner))
    return taken


def next_due(conn: sqlite3.Connection, names: Collection[str] | None) -> datetime | None:
    only, named_params = named(names)
    (earliest,) = conn.execute(
        f"SELECT min(run_at) FROM tasks WHERE state = 'scheduled'{only}", named_params
    ).fetchone()
    return None if earliest is None else datetime.fromtimestamp(earliest, UTC)


def count(conn: sqlite3.Connection, state: State) -> int:
    found: int = conn.execute(
        "SELECT count(*) FROM tasks WHERE state = ?", (state.value,)
    ).fetchone()[0]
    return found


def count_by_name(conn: sqlite3.Connection, state: State) -> dict[str, int]:
    rows = conn.execute(
        "SELECT name, count(*) FROM tasks WHERE state = ? GROUP BY name", (state.value,)
    )
    return dict(rows.fetchall())


def advance_schedule(
    conn: sqlite3.Connection,
    take_seq: TakeSeq,
    *,
    name: str,
    tick: datetime,
    run: TaskRecord | None,
    owner: str | None,
    lease: float,
) -> bool:
    moved = conn.execute(
        "INSERT INTO schedules (name, last_tick, task_id) VALUES (?, ?, ?) "
        "ON CONFLICT (name) DO UPDATE SET last_tick = excluded.last_tick, "
        "task_id = excluded.task_id WHERE schedules.last_tick < excluded.last_tick "
        "RETURNING name",
        (name, tick.timestamp(), run.id if run is not None else None),
    ).fetchall()
    if not moved:
        return False
    if run is not None:
        if owner is not None:
            hold_lease(conn, owner, lease)
        insert(conn, run, owner, take_seq(conn))
    return True


def schedule_marks(conn: sqlite3.Connection) -> list[ScheduleMark]:
    rows = conn.execute("SELECT name, last_tick, task_id FROM schedules ORDER BY name")
    return [
        ScheduleMark(name, datetime.fromtimestamp(tick, UTC), task_id)
        for name, tick, task_id in rows
    ]
