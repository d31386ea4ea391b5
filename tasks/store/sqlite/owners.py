"""The SQLite store's SQL for who holds which task: leases, claims, releases, cancel flags.

Each function is a write operation for the store's batch (see ``connection.py`` and
``loop_writer.py``): it runs while this process holds the database's write lock, so it sees
every write committed before it, in this process or another, and two processes can never
both claim one task.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Collection

from ...records import TaskRecord
from . import workflows
from .later import TakeSeq
from .rows import COLUMNS, hold_lease, load, named

__all__ = ["LIVE", "claim", "claim_task", "release", "release_task", "renew", "request_cancel"]

#: the states of a task that someone may hold
LIVE = "('queued', 'running')"


def renew(conn: sqlite3.Connection, *, owner: str, lease: float) -> list[str]:
    """Extend the owner's lease; the ids of its tasks that someone asked to cancel."""
    hold_lease(conn, owner, lease)
    rows = conn.execute(
        f"SELECT id FROM tasks WHERE owner = ? AND cancel_requested AND state IN {LIVE}",
        (owner,),
    )
    return [row[0] for row in rows]


def claim(
    conn: sqlite3.Connection,
    take_seq: TakeSeq,
    *,
    owner: str,
    lease: float,
    limit: int,
    is_dead: Callable[[str], bool],
    names: Collection[str] | None,
) -> list[TaskRecord]:
    """Take live tasks of ``names`` that nobody holds, or whose holder's lease ran out or who
    is dead: the highest priority first, then the oldest."""
    now = time.time()
    hold_lease(conn, owner, lease)
    if names is not None and not names:
        return []
    holders = conn.execute(
        f"SELECT DISTINCT t.owner, coalesce(o.lease_until, 0) FROM tasks t "
        f"LEFT JOIN owners o ON o.owner = t.owner "
        f"WHERE t.state IN {LIVE} AND t.owner IS NOT NULL AND t.owner != ?",
        (owner,),
    ).fetchall()
    gone = [holder for holder, until in holders if until < now or is_dead(holder)]
    marks = ", ".join("?" * len(gone))
    only, named_params = named(names)
    rows = conn.execute(
        f"SELECT id, {COLUMNS} FROM tasks WHERE state IN {LIVE} "
        f"AND (owner IS NULL OR owner IN ({marks})){only} ORDER BY priority DESC, rowid LIMIT ?",
        (*gone, *named_params, limit),
    ).fetchall()
    claimed = []
    for task_id, data, _, flagged, *columns in rows:
        conn.execute(
            "UPDATE tasks SET owner = ?, seq = ? WHERE id = ?", (owner, take_seq(conn), task_id)
        )
        claimed.append(load(data, owner, flagged, *columns))
    for holder in gone:
        conn.execute("DELETE FROM owners WHERE owner = ?", (holder,))
    return claimed


def claim_task(
    conn: sqlite3.Connection,
    take_seq: TakeSeq,
    *,
    task_id: str,
    owner: str,
    lease: float,
    is_dead: Callable[[str], bool],
    names: Collection[str] | None,
) -> TaskRecord | None:
    """Take one live task of ``names`` unless another live holder has it (or ``owner``
    already does)."""
    now = time.time()
    hold_lease(conn, owner, lease)
    row = conn.execute(
        f"SELECT t.data, t.owner, t.cancel_requested, coalesce(o.lease_until, 0), "
        f"t.id, t.name, t.state "
        f"FROM tasks t LEFT JOIN owners o ON o.owner = t.owner "
        f"WHERE t.id = ? AND t.state IN {LIVE}",
        (task_id,),
    ).fetchone()
    if row is None:
        return None
    data, holder, flagged, until, *columns = row
    _, name, _ = columns
    if names is not None and name not in names:
        return None
    if holder == owner or (holder is not None and until >= now and not is_dead(holder)):
        return None
    conn.execute(
        "UPDATE tasks SET owner = ?, seq = ? WHERE id = ?", (owner, take_seq(conn), task_id)
    )
    return load(data, owner, flagged, *columns)


def release(
    conn: sqlite3.Connection, take_seq: TakeSeq, *, owner: str, keep: frozenset[str]
) -> int:
    """Hand the owner's live tasks but ``keep`` back to nobody; how many went back."""
    rows = conn.execute(
        f"SELECT id FROM tasks WHERE owner = ? AND state IN {LIVE}", (owner,)
    ).fetchall()
    released = [task_id for (task_id,) in rows if task_id not in keep]
    for task_id in released:
        conn.execute(
            "UPDATE tasks SET owner = NULL, seq = ? WHERE id = ?", (take_seq(conn), task_id)
        )
    if not keep:
        conn.execute("DELETE FROM owners WHERE owner = ?", (owner,))
    return len(released)


def release_task(conn: sqlite3.Connection, take_seq: TakeSeq, *, task_id: str, owner: str) -> bool:
    """Hand one live task that ``owner`` holds back to nobody, as it is."""
    cursor = conn.execute(
        f"UPDATE tasks SET owner = NULL, seq = ? WHERE id = ? AND owner = ? AND state IN {LIVE}",
        (take_seq(conn), task_id, owner),
    )
    return cursor.rowcount == 1


def request_cancel(
    conn: sqlite3.Connection, take_seq: TakeSeq, *, task_id: str
) -> TaskRecord | None:
    """Flag the task, and each of its descendants that may still run, for its holder to
    cancel; a waiting task nobody holds ends at once. The task's record as now stored."""
    row = conn.execute(f"SELECT {COLUMNS} FROM tasks WHERE id = ?", (task_id,)).fetchone()
    if row is None:
        return None
    record = load(*row)
    if record.state.terminal:
        return record
    record = workflows.cancel(conn, take_seq, record)
    workflows.cancel_descendants(conn, take_seq, task_id=task_id)
    return record
