"""The PostgreSQL store's SQL for retention: deleting the oldest finished records.

A workflow goes as one: a record whose parent still exists is never deleted on its own, and
a record deleted takes its descendants with it, once none of them may still run. Runs
inside a write batch's transaction (``batches.py``) on its connection, which holds the
store's counter lock: nothing else writes while it decides what goes.
"""

from __future__ import annotations

from datetime import datetime

from ...records import TaskRecord
from .batches import Sequence
from .rows import COLUMNS, load
from .session import Session
from .workflows import ACTIVE, tree

__all__ = ["delete_finished"]

#: finished records that may go, each with its descendants' ids: the oldest write first (a
#: finished record is never written again, so write order is finish order), none whose
#: parent exists, none whose workflow may still run or holds the latest write (its seq is
#: the counter's). SKIP LOCKED: rows another process is pruning right now are its own.
_OLD = (
    f"SELECT ARRAY(WITH {tree('r.id')} SELECT id FROM tree), {COLUMNS} FROM quart_tasks r "
    "WHERE state = ANY(%s) AND seq < (SELECT max(seq) FROM quart_tasks) "
    "AND NOT EXISTS (SELECT FROM quart_tasks p WHERE p.id = r.parent) "
    f"AND NOT EXISTS (WITH {tree('r.id')} SELECT FROM quart_tasks d "
    f"WHERE d.id IN (SELECT id FROM tree) "
    f"AND (d.state IN {ACTIVE} OR d.seq >= (SELECT max(seq) FROM quart_tasks))) "
    "ORDER BY seq LIMIT %s FOR UPDATE SKIP LOCKED"
)


async def delete_finished(
    conn: Session, sequence: Sequence, *, states: list[str], before: datetime, limit: int
) -> list[TaskRecord]:
    """Delete up to ``limit`` records in ``states`` that finished before ``before``, each
    with its descendants; them, each followed by its descendants in creation order."""
    # The planner prices the search of each candidate's descendants (an index probe or two)
    # so high that it would compile the statement (JIT), taking far longer than running it
    # while every writer waits on the counter lock.
    await conn.execute("SET LOCAL jit = off")
    cursor = await conn.execute(_OLD, (states, limit))
    old: list[tuple[TaskRecord, list[str]]] = []
    for descendants, *row in await cursor.fetchall():
        record = load(*row)
        if record.finished_at is None or record.finished_at >= before:
            break
        old.append((record, descendants))
    if not old:
        return []
    ids = [task_id for record, descendants in old for task_id in (record.id, *descendants)]
    cursor = await conn.execute(
        f"DELETE FROM quart_tasks WHERE id = ANY(%s) RETURNING position, {COLUMNS}", (ids,)
    )
    deleted: dict[str, tuple[int, TaskRecord]] = {}
    for position, *columns in await cursor.fetchall():
        record = load(*columns)
        deleted[record.id] = (int(position), record)
    pruned: list[TaskRecord] = []
    for root, descendants in old:  # a root was created before its descendants: it comes first
        family = [deleted[task_id] for task_id in (root.id, *descendants) if task_id in deleted]
        pruned += [record for _, record in sorted(family, key=lambda found: found[0])]
    return pruned
