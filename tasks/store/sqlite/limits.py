"""The SQLite store's admission of limited starts (``tasks/limits.py``).

It runs as one write operation, holding the database's write lock, so the count it reads and
the start it writes are one step for every process that shares the file.
"""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime

from ...limits import Admission, StartLimit
from ...records import TaskRecord
from .later import TakeSeq
from .rows import COLUMNS, dump, hold_lease, load

__all__ = ["start_limited"]


def start_limited(
    conn: sqlite3.Connection,
    take_seq: TakeSeq,
    *,
    record: TaskRecord,
    owner: str,
    lease: float,
    limit: StartLimit,
) -> Admission:
    """Write the start ``record`` if ``owner`` holds its queued task and ``limit`` allows it."""
    row = conn.execute(
        f"SELECT {COLUMNS} FROM tasks WHERE id = ? AND owner = ?", (record.id, owner)
    ).fetchone()
    if row is None:
        return Admission(started=False, held=False)
    if row[5] != "queued":
        stored = load(*row)
        started = _written_before(stored, record)
        return Admission(started=started, held=started, record=stored if started else None)
    now = time.time()
    hold_lease(conn, owner, lease)
    if limit.concurrency is not None:
        (running,) = conn.execute(
            "SELECT count(*) FROM tasks t JOIN owners o ON o.owner = t.owner "
            "WHERE t.name = ? AND t.limit_key = ? AND t.state = 'running' "
            "AND o.lease_until >= ?",
            (record.name, limit.key, now),
        ).fetchone()
        if running >= limit.concurrency:
            return Admission(started=False)
    if limit.rate is not None:
        since = now - limit.period
        conn.execute("DELETE FROM starts WHERE name = ? AND at <= ?", (record.name, since))
        (started,) = conn.execute(
            "SELECT count(*) FROM starts WHERE name = ?", (record.name,)
        ).fetchone()
        if started >= limit.rate:
            (frees_at,) = conn.execute(
                "SELECT at FROM starts WHERE name = ? ORDER BY at LIMIT 1 OFFSET ?",
                (record.name, started - limit.rate),
            ).fetchone()
            return Admission(started=False, retry_in=frees_at + limit.period - now)
        conn.execute("INSERT INTO starts (name, at) VALUES (?, ?)", (record.name, now))
    record = record.replace(started_at=datetime.fromtimestamp(now, UTC))
    conn.execute(
        "UPDATE tasks SET state = ?, seq = ?, data = ?, limit_key = ? WHERE id = ?",
        (record.state.value, take_seq(conn), dump(record), limit.key, record.id),
    )
    return Admission(started=True, record=record)


def _written_before(stored: TaskRecord, start: TaskRecord) -> bool:
    """Whether ``stored`` is the start ``start`` itself, committed by an earlier call (its
    ``started_at`` is the moment of that admission)."""
    return stored.state is start.state and stored.attempts == start.attempts
