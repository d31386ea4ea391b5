"""How the SQLite store writes and reads rows: records as JSON, leases, inserts.

Every function runs on whichever connection holds the write lock (or reads), inside the
batch that ``connection.py`` or ``loop_writer.py`` commits.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Collection

from ...records import TaskRecord
from ..record_json import COLUMNS, dump, load

__all__ = ["COLUMNS", "dump", "hold_lease", "insert", "load", "named", "replace"]


def insert(
    conn: sqlite3.Connection, record: TaskRecord, owner: str | None, seq: int
) -> TaskRecord | None:
    """Insert a new record; None, or the record that already holds its idempotency key."""
    run_at = record.run_at.timestamp() if record.run_at is not None else None
    try:
        conn.execute(
            "INSERT INTO tasks "
            "(id, name, state, seq, owner, data, run_at, idempotency_key, parent, priority) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                record.id,
                record.name,
                record.state.value,
                seq,
                owner,
                dump(record),
                run_at,
                record.idempotency_key,
                record.parent,
                record.priority,
            ),
        )
    except sqlite3.IntegrityError:
        if record.idempotency_key is not None:
            row = conn.execute(
                f"SELECT {COLUMNS} FROM tasks WHERE idempotency_key = ?",
                (record.idempotency_key,),
            ).fetchone()
            if row is not None:
                return load(*row)
        raise ValueError(f"a task with id {record.id!r} already exists") from None
    return None


def named(names: Collection[str] | None) -> tuple[str, tuple[str, ...]]:
    """The ``AND`` clause, and its parameters, that keeps only tasks named in ``names``.

    The ``+`` keeps SQLite from using the name index: that would read every record of those
    names, finished ones too, where the state or due index reads only the live ones.
    """
    if names is None:
        return "", ()
    found = tuple(sorted(names))
    return f" AND +name IN ({', '.join('?' * len(found))})", found


def hold_lease(conn: sqlite3.Connection, owner: str, lease: float) -> None:
    conn.execute(
        "INSERT INTO owners (owner, lease_until) VALUES (?, ?) "
        "ON CONFLICT (owner) DO UPDATE SET lease_until = excluded.lease_until",
        (owner, time.time() + lease),
    )


def replace(conn: sqlite3.Connection, record: TaskRecord, owner: str, seq: int) -> bool:
    """Write ``record`` over its live row if ``owner`` holds it; whether it did."""
    cursor = conn.execute(
        "UPDATE tasks SET state = ?, seq = ?, data = ? "
        "WHERE id = ? AND owner = ? AND state IN ('queued', 'running')",
        (record.state.value, seq, dump(record), record.id, owner),
    )
    return cursor.rowcount == 1
