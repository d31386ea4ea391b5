"""The SQLite store's SQL for retention: finding finished records that are old, deleting them.

The search is a read, the deletion a short write of ids: a store with thousands of records
to prune never holds the write lock while it decodes them.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime

from ...records import TaskRecord
from .rows import COLUMNS, load

__all__ = ["delete_finished", "old_finished"]


def old_finished(
    conn: sqlite3.Connection, *, states: list[str], before: datetime, limit: int
) -> list[TaskRecord]:
    """Up to ``limit`` records in ``states`` that finished before ``before``, oldest first."""
    # Oldest write first: a finished record is never written again, so write order is finish
    # order, and the scan stops at the first record that is too young. The newest record is
    # never taken: its seq is where the numbering goes on after a restart.
    marks = ", ".join("?" * len(states))
    rows = conn.execute(
        f"SELECT id, {COLUMNS} FROM tasks WHERE state IN ({marks}) "
        "AND seq < (SELECT max(seq) FROM tasks) ORDER BY seq LIMIT ?",
        (*states, limit),
    )
    old: list[TaskRecord] = []
    for _, *row in rows:
        record = load(*row)
        if record.finished_at is None or record.finished_at >= before:
            break
        old.append(record)
    rows.close()
    return old


def delete_finished(conn: sqlite3.Connection, *, ids: list[str], states: list[str]) -> set[str]:
    """Delete those of ``ids`` that are still in ``states``; the ids deleted."""
    # What was finished and old when read still is; another process may have deleted it.
    cursor = conn.execute(
        f"DELETE FROM tasks WHERE id IN ({', '.join('?' * len(ids))}) "
        f"AND state IN ({', '.join('?' * len(states))}) "
        "AND seq < (SELECT max(seq) FROM tasks) RETURNING id",
        (*ids, *states),
    )
    return {task_id for (task_id,) in cursor}
