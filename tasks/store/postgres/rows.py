"""How the PostgreSQL store writes and reads rows: records as JSON, leases, owners, inserts.

Each write function runs its statements inside the batch's transaction (see ``batches.py``).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import psycopg

from ...records import TaskRecord
from ..record_json import COLUMNS, dump, load
from .batches import Later, Sequence
from .pool import Connection

__all__ = [
    "COLUMNS",
    "LIVE",
    "NOW",
    "dump",
    "hold_lease",
    "insert",
    "load",
    "named",
    "replace",
    "set_owner",
    "written",
]

LIVE = "('queued', 'running')"
#: the database server's clock, in unix seconds
NOW = "extract(epoch from clock_timestamp())"


async def insert(conn: Connection, record: TaskRecord, owner: str | None, seq: int) -> Later:
    """Insert a new record. Once the batch is sent, its outcome reads as True (stored), the
    record that already holds its idempotency key, or False (its id exists)."""
    run_at = record.run_at.timestamp() if record.run_at is not None else None
    cursor = await conn.execute(
        "INSERT INTO quart_tasks (id, name, state, seq, owner, data, run_at, idempotency_key) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING seq",
        (
            record.id,
            record.name,
            record.state.value,
            seq,
            owner,
            dump(record),
            run_at,
            record.idempotency_key,
        ),
    )

    async def read() -> bool | TaskRecord:
        if await cursor.fetchone() is not None:
            return True
        if record.idempotency_key is None:
            return False
        found = await conn.execute(
            f"SELECT {COLUMNS} FROM quart_tasks WHERE idempotency_key = %s",
            (record.idempotency_key,),
        )
        row = await found.fetchone()
        return load(*row) if row is not None else False

    return Later(read)


async def replace(conn: Connection, seq: int, record: TaskRecord, owner: str) -> Later:
    """Write a live task's record, if ``owner`` holds it; reads as whether it was written."""
    cursor = await conn.execute(
        "UPDATE quart_tasks SET state = %s, seq = %s, data = %s "
        f"WHERE id = %s AND owner = %s AND state IN {LIVE} RETURNING seq",
        (record.state.value, seq, dump(record), record.id, owner),
    )
    return written(cursor)


def written(cursor: psycopg.AsyncCursor[tuple[Any, ...]]) -> Later:
    """Whether the one-row write behind ``cursor`` happened, once the batch is sent."""

    async def read() -> bool:
        return await cursor.fetchone() is not None

    return Later(read)


def named(names: Collection[str] | None) -> tuple[str, tuple[list[str], ...]]:
    """The ``AND`` clause, and its parameter, that keeps only tasks named in ``names``."""
    if names is None:
        return "", ()
    return " AND name = ANY(%s)", (sorted(names),)


async def hold_lease(conn: Connection, owner: str, lease: float) -> None:
    await conn.execute(
        f"INSERT INTO quart_tasks_owners (owner, lease_until) VALUES (%s, {NOW} + %s) "
        f"ON CONFLICT (owner) DO UPDATE SET lease_until = excluded.lease_until",
        (owner, lease),
    )


async def set_owner(
    conn: Connection, task_ids: list[str], owner: str | None, sequence: Sequence
) -> None:
    """Hand the tasks to ``owner`` (None: nobody), each write with its own number."""
    if not task_ids:
        return
    if owner is None:
        sequence.work = True
    await conn.execute(
        "UPDATE quart_tasks t SET owner = %s, seq = v.seq "
        "FROM unnest(%s::text[], %s::bigint[]) AS v(id, seq) WHERE t.id = v.id",
        (owner, task_ids, sequence.take(len(task_ids))),
    )
