"""The SQLite store's SQL for retention: finding finished records that are old, deleting them.

A workflow goes as one: a record whose parent still exists is never deleted on its own, and
a record deleted takes its descendants with it, once none of them may still run. The search
is a read, the deletion a short write of ids: a store with thousands of records to prune
never holds the write lock while it decodes them.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime

from ...records import TaskRecord
from .rows import COLUMNS, load
from .workflows import ACTIVE, descendants, tree

__all__ = ["delete_finished", "old_finished"]

#: ids per DELETE, well under SQLite's bound on a statement's parameters
_CHUNK = 500


def old_finished(
    conn: sqlite3.Connection, *, states: list[str], before: datetime, limit: int
) -> list[list[TaskRecord]]:
    """Up to ``limit`` records in ``states`` that finished before ``before``, oldest first,
    each with its descendants after it: those of them that may be deleted as a whole."""
    # Oldest write first: a finished record is never written again, so write order is finish
    # order, and the scan stops at the first record that is too young. The newest record is
    # never taken, nor one whose workflow holds it: its seq is where the numbering goes on
    # after a restart. A record whose parent exists goes with its parent; one with a
    # descendant that may still run waits for it. The ``+`` keeps SQLite from the state
    # index: through it, it would search the descendants of every finished record, then sort.
    marks = ", ".join("?" * len(states))
    rows = conn.execute(
        f"SELECT {COLUMNS} FROM tasks r WHERE +state IN ({marks}) "
        "AND seq < (SELECT max(seq) FROM tasks) "
        "AND NOT EXISTS (SELECT 1 FROM tasks p WHERE p.id = r.parent) "
        f"AND NOT EXISTS (WITH {tree('r.id')} SELECT 1 FROM tasks d "
        f"WHERE d.id IN (SELECT id FROM tree) "
        f"AND (d.state IN {ACTIVE} OR d.seq >= (SELECT max(seq) FROM tasks))) "
        "ORDER BY seq LIMIT ?",
        (*states, limit),
    )
    old: list[TaskRecord] = []
    for row in rows:
        record = load(*row)
        if record.finished_at is None or record.finished_at >= before:
            break
        old.append(record)
    rows.close()
    return [[record, *descendants(conn, record.id)] for record in old]


def delete_finished(conn: sqlite3.Connection, *, ids: list[str]) -> set[str]:
    """Delete those of ``ids`` that are still finished, but the latest write; the ids deleted."""
    # What was finished and old when read still is; another process may have deleted it.
    deleted: set[str] = set()
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        cursor = conn.execute(
            f"DELETE FROM tasks WHERE id IN ({', '.join('?' * len(chunk))}) "
            f"AND state NOT IN {ACTIVE} "
            "AND seq < (SELECT max(seq) FROM tasks) RETURNING id",
            chunk,
        )
        deleted.update(task_id for (task_id,) in cursor)
    return deleted
