"""The PostgreSQL store's SQL for owners: leases, claims, hand-backs and cancel flags.

Each function runs inside a write batch's transaction (``batches.py``) on its connection.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from ...records import State, TaskRecord
from .batches import NUMBERS, Later, Sequence
from .rows import COLUMNS, LIVE, NOW, dump, hold_lease, load, named, set_owner, written
from .session import Session

__all__ = ["claim", "claim_task", "release", "release_task", "renew", "request_cancel"]

_LIVE, _COLUMNS, _NOW = LIVE, COLUMNS, NOW


async def renew(conn: Session, sequence: Sequence, *, owner: str, lease: float) -> list[str]:
    """Extend ``owner``'s lease; the ids of its live tasks whose cancellation was requested."""
    await hold_lease(conn, owner, lease)
    cursor = await conn.execute(
        f"SELECT id FROM quart_tasks WHERE owner = %s AND cancel_requested AND state IN {_LIVE}",
        (owner,),
    )
    return [row[0] for row in await cursor.fetchall()]


async def claim(
    conn: Session,
    sequence: Sequence,
    *,
    owner: str,
    lease: float,
    limit: int,
    is_dead: Callable[[str], bool],
    names: Collection[str] | None,
) -> list[TaskRecord]:
    """Take up to ``limit`` live tasks nobody holds, or whose holder is gone."""
    only, only_names = named(names)

    await hold_lease(conn, owner, lease)
    if names is not None and not names:
        return []
    cursor = await conn.execute(
        f"SELECT DISTINCT t.owner, coalesce(o.lease_until, 0) < {_NOW} "
        f"FROM quart_tasks t LEFT JOIN quart_tasks_owners o ON o.owner = t.owner "
        f"WHERE t.state IN {_LIVE} AND t.owner IS NOT NULL AND t.owner != %s",
        (owner,),
    )
    holders = await cursor.fetchall()
    gone = [holder for holder, expired in holders if expired or is_dead(holder)]
    cursor = await conn.execute(
        f"SELECT id, {_COLUMNS} FROM quart_tasks WHERE state IN {_LIVE} "
        f"AND (owner IS NULL OR owner = ANY(%s)){only} ORDER BY position LIMIT %s "
        f"FOR UPDATE SKIP LOCKED",
        (gone, *only_names, limit),
    )
    rows = await cursor.fetchall()
    await set_owner(conn, [row[0] for row in rows], owner, sequence)
    if gone:
        await conn.execute("DELETE FROM quart_tasks_owners WHERE owner = ANY(%s)", (gone,))
    return [load(data, owner, flagged, *rest) for _, data, _, flagged, *rest in rows]


async def claim_task(
    conn: Session,
    sequence: Sequence,
    *,
    task_id: str,
    owner: str,
    lease: float,
    is_dead: Callable[[str], bool],
    names: Collection[str] | None,
) -> TaskRecord | None:
    """Take one live task, as :func:`claim` would."""
    await hold_lease(conn, owner, lease)
    cursor = await conn.execute(
        f"SELECT t.data, t.owner, t.cancel_requested, "
        f"coalesce(o.lease_until, 0) < {_NOW}, t.id, t.name, t.state "
        f"FROM quart_tasks t LEFT JOIN quart_tasks_owners o ON o.owner = t.owner "
        f"WHERE t.id = %s AND t.state IN {_LIVE} FOR UPDATE OF t SKIP LOCKED",
        (task_id,),
    )
    row = await cursor.fetchone()
    if row is None:
        return None  # no such live task, or another process is claiming it now
    data, holder, flagged, expired, *columns = row
    _, name, _ = columns
    if names is not None and name not in names:
        return None
    if holder == owner or (holder is not None and not expired and not is_dead(holder)):
        return None
    await set_owner(conn, [task_id], owner, sequence)
    return load(data, owner, flagged, *columns)


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
    """Flag the task for cancellation; a scheduled one, or a queued one nobody holds, ends."""
    cursor = await conn.execute(
        f"SELECT {_COLUMNS} FROM quart_tasks WHERE id = %s FOR UPDATE", (task_id,)
    )
    row = await cursor.fetchone()
    if row is None:
        return None
    record = load(*row)
    if record.state.terminal:
        return record
    if record.state in (State.SCHEDULED, State.QUEUED) and record.owner is None:
        record = record.finished(State.CANCELLED)
    await conn.execute(
        f"WITH {NUMBERS} UPDATE quart_tasks SET state = %s, seq = numbers.base + 1, "
        "cancel_requested = true, data = %s FROM numbers WHERE id = %s",
        (*sequence.reserve(), record.state.value, dump(record), task_id),
    )
    return record.replace(cancel_requested=True)
