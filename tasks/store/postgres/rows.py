"""How the PostgreSQL store writes and reads rows: records as JSON, leases, owners, inserts.

Each write function runs its statements inside the batch's transaction (see ``batches.py``).
"""

from __future__ import annotations

from collections.abc import Collection

from ...records import TaskRecord
from ..record_json import COLUMNS, dump, load
from .batches import NUMBERS, Later, Sequence
from .session import Rows, Session

__all__ = [
    "COLUMNS",
    "KEY_LOCK_CLASS",
    "LIVE",
    "NOW",
    "KeyInUse",
    "dump",
    "hold_lease",
    "insert",
    "insert_many",
    "load",
    "named",
    "replace_many",
    "set_owner",
    "written",
]

LIVE = "('queued', 'running')"
#: the database server's clock, in unix seconds
NOW = "extract(epoch from clock_timestamp())"

#: the first key of the advisory lock on an idempotency key (the second: its hash), held by
#: a transaction that stores a task with that key; two-key locks never meet one-key ones
KEY_LOCK_CLASS = 0x71746B79  # "qtky"
#: true if nobody holds ``key``'s lock, which the transaction then holds; never waits
_KEY_FREE = f"pg_try_advisory_xact_lock({KEY_LOCK_CLASS}, hashtext({{key}}))"


class KeyInUse:
    """An insert's outcome: an open transaction of another connection holds its key."""


async def insert(conn: Session, record: TaskRecord, owner: str | None, sequence: Sequence) -> Later:
    """Insert a new record. Once the batch is sent, its outcome reads as True (stored), the
    record that already holds its idempotency key, :class:`KeyInUse`, or False (its id
    exists)."""
    run_at = record.run_at.timestamp() if record.run_at is not None else None
    key = record.idempotency_key
    cursor = await conn.execute(
        f"WITH {NUMBERS} INSERT INTO quart_tasks "
        "(id, name, state, seq, owner, data, run_at, idempotency_key, parent, priority) "
        "SELECT %s, %s, %s, numbers.base + 1, %s, %s, %s, %s::text, %s, %s FROM numbers "
        f"WHERE %s::text IS NULL OR {_KEY_FREE.format(key='%s::text')} "
        "ON CONFLICT DO NOTHING RETURNING seq",
        (
            *sequence.reserve(),
            record.id,
            record.name,
            record.state.value,
            owner,
            dump(record),
            run_at,
            key,
            record.parent,
            record.priority,
            key,
            key,
        ),
    )

    async def read() -> bool | TaskRecord | KeyInUse:
        if await cursor.fetchone() is not None:
            return True
        return await _holder_of_key(conn, record)

    return Later(read)


async def insert_many(
    conn: Session, rows: list[tuple[TaskRecord, str | None]], sequence: Sequence
) -> Later:
    """Insert new records (each with its owner) in one statement. Once the batch is sent,
    reads as each one's outcome, as :func:`insert` has it."""
    records = [record for record, _ in rows]
    cursor = await conn.execute(
        f"WITH {NUMBERS} INSERT INTO quart_tasks "
        "(id, name, state, seq, owner, data, run_at, idempotency_key, parent, priority) "
        "SELECT v.id, v.name, v.state, numbers.base + v.k, v.owner, v.data, v.run_at, v.key, "
        "v.parent, v.priority FROM numbers, unnest(%s::text[], %s::text[], %s::text[], "
        "%s::text[], %s::text[], %s::float8[], %s::text[], %s::text[], %s::int[]) "
        "WITH ORDINALITY AS v(id, name, state, owner, data, run_at, key, parent, priority, k) "
        f"WHERE v.key IS NULL OR {_KEY_FREE.format(key='v.key')} "
        "ON CONFLICT DO NOTHING RETURNING id",
        (
            *sequence.reserve(len(records)),
            [record.id for record in records],
            [record.name for record in records],
            [record.state.value for record in records],
            [owner for _, owner in rows],
            [dump(record) for record in records],
            [record.run_at.timestamp() if record.run_at else None for record in records],
            [record.idempotency_key for record in records],
            [record.parent for record in records],
            [record.priority for record in records],
        ),
    )

    async def read() -> list[bool | TaskRecord | KeyInUse]:
        stored = {row[0] for row in await cursor.fetchall()}
        return [
            True if record.id in stored else await _holder_of_key(conn, record)
            for record in records
        ]

    return Later(read)


async def _holder_of_key(conn: Session, record: TaskRecord) -> bool | TaskRecord | KeyInUse:
    """The record that holds ``record``'s idempotency key; else :class:`KeyInUse` if it has
    a key (whose lock an open transaction holds), False if not (so its id was taken)."""
    if record.idempotency_key is None:
        return False
    found = await conn.execute(
        f"SELECT {COLUMNS} FROM quart_tasks WHERE idempotency_key = %s",
        (record.idempotency_key,),
    )
    row = await found.fetchone()
    return load(*row) if row is not None else KeyInUse()


async def replace_many(
    conn: Session, rows: list[tuple[TaskRecord, str]], sequence: Sequence
) -> Later:
    """Write live tasks' records (each if its owner holds it; at most one per task) in one
    statement. Once the batch is sent, reads as whether each was written."""
    cursor = await conn.execute(
        f"WITH {NUMBERS} UPDATE quart_tasks t "
        "SET state = v.state, seq = numbers.base + v.k, data = v.data "
        "FROM numbers, unnest(%s::text[], %s::text[], %s::text[], %s::text[]) "
        "WITH ORDINALITY AS v(id, owner, state, data, k) "
        f"WHERE t.id = v.id AND t.owner = v.owner AND t.state IN {LIVE} RETURNING t.id",
        (
            *sequence.reserve(len(rows)),
            [record.id for record, _ in rows],
            [owner for _, owner in rows],
            [record.state.value for record, _ in rows],
            [dump(record) for record, _ in rows],
        ),
    )

    async def read() -> list[bool]:
        written_ids = {row[0] for row in await cursor.fetchall()}
        return [record.id in written_ids for record, _ in rows]

    return Later(read)


def written(cursor: Rows) -> Later:
    """Whether the one-row write behind ``cursor`` happened, once the batch is sent."""

    async def read() -> bool:
        return await cursor.fetchone() is not None

    return Later(read)


def named(names: Collection[str] | None) -> tuple[str, tuple[list[str], ...]]:
    """The ``AND`` clause, and its parameter, that keeps only tasks named in ``names``."""
    if names is None:
        return "", ()
    return " AND name = ANY(%s)", (sorted(names),)


async def hold_lease(conn: Session, sequence: Sequence, owner: str, lease: float) -> None:
    """Extend ``owner``'s lease, once per transaction however many of its writes it holds."""
    if owner in sequence.leases:
        return
    sequence.leases.add(owner)
    await conn.execute(
        f"INSERT INTO quart_tasks_owners (owner, lease_until) VALUES (%s, {NOW} + %s) "
        f"ON CONFLICT (owner) DO UPDATE SET lease_until = excluded.lease_until",
        (owner, lease),
    )


async def set_owner(
    conn: Session, task_ids: list[str], owner: str | None, sequence: Sequence
) -> None:
    """Hand the tasks to ``owner`` (None: nobody), each write with its own number."""
    if not task_ids:
        return
    if owner is None:
        sequence.work = True
    await conn.execute(
        f"WITH {NUMBERS} UPDATE quart_tasks t SET owner = %s, seq = numbers.base + v.k "
        "FROM numbers, unnest(%s::text[]) WITH ORDINALITY AS v(id, k) WHERE t.id = v.id",
        (*sequence.reserve(len(task_ids)), owner, task_ids),
    )
