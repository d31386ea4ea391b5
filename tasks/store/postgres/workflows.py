"""The PostgreSQL store's SQL for workflows: a task's descendants (the tasks its run
submitted, theirs, and so on), found through the ``parent`` column, and cancelling them.

Each function runs inside a write batch's transaction (``batches.py``) on its connection.
"""

from __future__ import annotations

from ...records import State, TaskRecord
from .batches import NUMBERS, Sequence
from .rows import COLUMNS, dump, load
from .session import Session

__all__ = ["ACTIVE", "cancel", "cancel_descendants", "tree"]

#: the states of a task that may still run: scheduled, or live
ACTIVE = "('scheduled', 'queued', 'running')"


def tree(root: str) -> str:
    """A recursive common table expression ``tree(id)``: the descendants of the task whose id
    is the SQL expression ``root`` (a parameter, or a column of an outer query)."""
    return (
        f"RECURSIVE tree(id) AS (SELECT id FROM quart_tasks WHERE parent = {root} "
        "UNION SELECT t.id FROM quart_tasks t JOIN tree ON t.parent = tree.id)"
    )


def cancel(record: TaskRecord) -> TaskRecord:
    """The record of a task (live or scheduled) flagged for its holder to cancel; one waiting
    that nobody holds ends at once."""
    if record.state in (State.SCHEDULED, State.QUEUED) and record.owner is None:
        record = record.finished(State.CANCELLED)
    return record.replace(cancel_requested=True)


async def cancel_descendants(conn: Session, sequence: Sequence, *, task_id: str) -> None:
    """:func:`cancel` each descendant of the task that may still run, each write numbered in
    creation order."""
    cursor = await conn.execute(
        f"WITH {tree('%s')} SELECT {COLUMNS} FROM quart_tasks "
        f"WHERE id IN (SELECT id FROM tree) AND state IN {ACTIVE} ORDER BY position FOR UPDATE",
        (task_id,),
    )
    records = [cancel(load(*row)) for row in await cursor.fetchall()]
    if not records:
        return
    await conn.execute(
        f"WITH {NUMBERS} UPDATE quart_tasks t SET state = v.state, seq = numbers.base + v.k, "
        "cancel_requested = true, data = v.data FROM numbers, "
        "unnest(%s::text[], %s::text[], %s::text[]) WITH ORDINALITY AS v(id, state, data, k) "
        "WHERE t.id = v.id",
        (
            *sequence.reserve(len(records)),
            [record.id for record in records],
            [record.state.value for record in records],
            [dump(record) for record in records],
        ),
    )
