"""The SQLite store's SQL for workflows: a task's descendants (the tasks its run submitted,
theirs, and so on), found through the ``parent`` column, and cancelling them with it.

Each function runs inside the store's write batch, or as a read (see ``connection.py``).
"""

from __future__ import annotations

import sqlite3

from ...records import State, TaskRecord
from .later import TakeSeq
from .rows import COLUMNS, dump, load

__all__ = ["ACTIVE", "cancel", "cancel_descendants", "descendants", "tree"]

#: the states of a task that may still run: scheduled, or live
ACTIVE = "('scheduled', 'queued', 'running')"


def tree(root: str) -> str:
    """A recursive common table expression ``tree(id)``: the descendants of the task whose id
    is the SQL expression ``root`` (a parameter, or a column of an outer query)."""
    return (
        f"RECURSIVE tree(id) AS (SELECT id FROM tasks WHERE parent = {root} "
        "UNION SELECT t.id FROM tasks t JOIN tree ON t.parent = tree.id)"
    )


def descendants(conn: sqlite3.Connection, task_id: str) -> list[TaskRecord]:
    """Every descendant of the task, in creation order."""
    rows = conn.execute(
        f"WITH {tree('?')} SELECT {COLUMNS} FROM tasks WHERE id IN (SELECT id FROM tree) "
        "ORDER BY rowid",
        (task_id,),
    )
    return [load(*row) for row in rows]


def cancel(conn: sqlite3.Connection, take_seq: TakeSeq, record: TaskRecord) -> TaskRecord:
    """Flag the task (live or scheduled) for its holder to cancel; one waiting that nobody
    holds ends at once. The record as now stored."""
    if record.state in (State.SCHEDULED, State.QUEUED) and record.owner is None:
        record = record.finished(State.CANCELLED)
    conn.execute(
        "UPDATE tasks SET state = ?, seq = ?, cancel_requested = 1, data = ? WHERE id = ?",
        (record.state.value, take_seq(conn), dump(record), record.id),
    )
    return record.replace(cancel_requested=True)


def cancel_descendants(conn: sqlite3.Connection, take_seq: TakeSeq, *, task_id: str) -> None:
    """:func:`cancel` each descendant of the task that may still run, in creation order."""
    rows = conn.execute(
        f"WITH {tree('?')} SELECT {COLUMNS} FROM tasks WHERE id IN (SELECT id FROM tree) "
        f"AND state IN {ACTIVE} ORDER BY rowid",
        (task_id,),
    ).fetchall()
    for row in rows:
        cancel(conn, take_seq, load(*row))
