"""The PostgreSQL store's SQL for owners: leases, claims, hand-backs and cancel flags.

Each function but :func:`holders` (a read before a claim) runs inside a write batch's
transaction (``batches.py``) on its connection.
"""

from __future__ import annotations

from collections.abc import Collection

from ...records import TaskRecord
from . import workflows
from .batches import NUMBERS, Later, Sequence
from .in_transaction import number_new
from .rows import COLUMNS, LIVE, NOW, dump, hold_lease, load, named, set_owner, written
from .session import Session

__all__ = [
    "claim",
    "claim_task",
    "holders",
    "release",
    "release_task",
    "renew",
    "request_cancel",
]

_LIVE, _COLUMNS, _NOW = LIVE, COLUMNS, NOW


async def renew(conn: Session, sequence: Sequence, *, owner: str, lease: float) -> Later:
    """Extend ``owner``'s lease; once the batch is sent, the ids of its live tasks whose
    cancellation was requested."""
    await hold_lease(conn, sequence, owner, lease)
    cursor = await conn.execute(
        f"SELECT id FROM quart_tasks WHERE owner = %s AND cancel_requested AND state IN {_LIVE}",
        (owner,),
    )

    async def read() -> list[str]:
        return [row[0] for row in await cursor.fetchall()]

    return Later(read)


async def holders(conn: Session, owner: str, task_id: str | None = None) -> list[str]:
    """The other owners holding live tasks (or only ``task_id``): read before a claim, outside
    its transaction, to ask which of them are known to be dead."""
    only, params = (" AND id = %s", (task_id,)) if task_id is not None else ("", ())
    cursor = await conn.execute(
        f"SELECT DISTINCT owner FROM quart_tasks WHERE state IN {_LIVE} "
        f"AND owner IS NOT NULL AND owner != %s{only}",
        (owner, *params),
    )
    return [row[0] for row in await cursor.fetchall()]


#: a live task that ``owner`` may take: held by nobody, by a holder known to be dead, or by
#: one whose lease has run out (or who holds none)
_TAKEABLE = (
    "(t.owner IS NULL OR (t.owner != %s AND (t.owner = ANY(%s) OR NOT EXISTS ("
    f"SELECT FROM quart_tasks_owners o WHERE o.owner = t.owner AND o.lease_until >= {_NOW}))))"
)
#: the columns of a claimed row: its position, then a record's
_CLAIMED = "t.position, " + ", ".join(f"t.{column.strip()}" for column in COLUMNS.split(","))


async def claim(
    conn: Session,
    sequence: Sequence,
    *,
    owner: str,
    lease: float,
    limit: int,
    dead: list[str],
    names: Collection[str] | None,
) -> Later | list[TaskRecord]:
    """Take up to ``limit`` live tasks nobody holds, or whose holder is gone (``dead``, or
    its lease has run out), in one statement; the records, in creation order, once the
    batch is sent."""
    await hold_lease(conn, sequence, owner, lease)
    if names is not None and not names:
        return []
    only, only_names = named(names)
    await number_new(conn, sequence)  # so that the change feed shows them queued first
    sequence.numbered = True  # the statement numbers its rows, counting them itself
    cursor = await conn.execute(
        f"WITH picked AS (SELECT t.id, t.position FROM quart_tasks t "
        f"WHERE t.state IN {_LIVE} AND {_TAKEABLE}{only} "
        "ORDER BY t.priority DESC, t.position LIMIT %s FOR UPDATE OF t SKIP LOCKED), "
        "taken AS (SELECT id, row_number() OVER (ORDER BY position) AS k FROM picked), "
        "numbers AS (UPDATE quart_tasks_store SET seq = seq + (SELECT count(*) FROM picked) "
        "RETURNING seq - (SELECT count(*) FROM picked) AS base) "
        "UPDATE quart_tasks t SET owner = %s, seq = numbers.base + taken.k "
        f"FROM numbers, taken WHERE t.id = taken.id RETURNING {_CLAIMED}",
        (owner, dead, *only_names, limit, owner),
    )
    await conn.execute(
        f"DELETE FROM quart_tasks_owners WHERE owner = ANY(%s) OR lease_until < {_NOW}",
        (dead,),
    )

    async def read() -> list[TaskRecord]:
        rows = sorted(await cursor.fetchall(), key=lambda row: int(row[0]))
        return [load(*columns) for _, *columns in rows]

    return Later(read)


async def claim_task(
    conn: Session,
    sequence: Sequence,
    *,
    task_id: str,
    owner: str,
    lease: float,
    dead: list[str],
    names: Collection[str] | None,
) -> Later | None:
    """Take one live task, as :func:`claim` would; its record (None if it was not taken)
    once the batch is sent."""
    await hold_lease(conn, sequence, owner, lease)
    if names is not None and not names:
        return None
    only, only_names = named(names)
    cursor = await conn.execute(
        f"WITH picked AS (SELECT t.id FROM quart_tasks t WHERE t.id = %s AND t.state IN {_LIVE} "
        f"AND {_TAKEABLE}{only} FOR UPDATE OF t SKIP LOCKED), {NUMBERS} "
        "UPDATE quart_tasks t SET owner = %s, seq = numbers.base + 1 FROM numbers, picked "
        f"WHERE t.id = picked.id RETURNING {_CLAIMED}",
        (task_id, owner, dead, *only_names, *sequence.reserve(), owner),
    )

    async def read() -> TaskRecord | None:
        row = await cursor.fetchone()
        return None if row is None else load(*row[1:])

    return Later(read)


async def release(conn: Session, sequence: Sequence, *, owner: str, keep: frozenset[str]) -> int:
    """Let go of every live task ``owner`` holds but those in ``keep``; how many."""
    cursor = await conn.execute(
        f"SELECT id FROM quart_tasks WHERE owner = %s AND state IN {_LIVE} "
        f"ORDER BY position FOR UPDATE",
        (owner,),
    )
    released = [row[0] for row in await cursor.fetchall() if row[0] not in keep]
    await set_owner(conn, released, None, sequence)
    if not keep:
        await conn.execute("DELETE FROM quart_tasks_owners WHERE owner = %s", (owner,))
    return len(released)


async def release_task(conn: Session, sequence: Sequence, *, task_id: str, owner: str) -> Later:
    """Let go of one task ``owner`` holds, unchanged; whether it did, once the batch is sent."""
    sequence.work = True
    cursor = await conn.execute(
        f"WITH {NUMBERS} UPDATE quart_tasks SET owner = NULL, seq = numbers.base + 1 "
        f"FROM numbers WHERE id = %s AND owner = %s AND state IN {_LIVE} RETURNING seq",
        (*sequence.reserve(), task_id, owner),
    )
    return written(cursor)


async def request_cancel(conn: Session, sequence: Sequence, *, task_id: str) -> TaskRecord | None:
    """Flag the task, and each of its descendants that may still run, for cancellation; a
    scheduled one, or a queued one nobody holds, ends. The task's record as now stored."""
    cursor = await conn.execute(
        f"SELECT {_COLUMNS} FROM quart_tasks WHERE id = %s FOR UPDATE", (task_id,)
    )
    row = await cursor.fetchone()
    if row is None:
        return None
    record = load(*row)
    if record.state.terminal:
        return record
    record = workflows.cancel(record)
    await conn.execute(
        f"WITH {NUMBERS} UPDATE quart_tasks SET state = %s, seq = numbers.base + 1, "
        "cancel_requested = true, data = %s FROM numbers WHERE id = %s",
        (*sequence.reserve(), record.state.value, dump(record), task_id),
    )
    await workflows.cancel_descendants(conn, sequence, task_id=task_id)
    return record
