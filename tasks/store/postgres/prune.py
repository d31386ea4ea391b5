"""The PostgreSQL store's SQL for retention: deleting the oldest finished records.

Runs inside a write batch's transaction (``batches.py``) on its connection.
"""

from __future__ import annotations

from datetime import datetime

from ...records import TaskRecord
from .batches import Sequence
from .rows import COLUMNS, load
from .session import Session

__all__ = ["delete_finished"]


async def delete_finished(
    conn: Session, sequence: Sequence, *, states: list[str], before: datetime, limit: int
) -> list[TaskRecord]:
    """Delete up to ``limit`` records in ``states`` that finished before ``before``; them."""
    # Oldest write first: a finished record is never written again, so write order is
    # finish order. SKIP LOCKED: rows another process is pruning right now are its own.
    cursor = await conn.execute(
        f"SELECT id, {COLUMNS} FROM quart_tasks WHERE state = ANY(%s) "
        "AND seq < (SELECT max(seq) FROM quart_tasks) "
        "ORDER BY seq LIMIT %s FOR UPDATE SKIP LOCKED",
        (states, limit),
    )
    old: list[TaskRecord] = []
    for _, *row in await cursor.fetchall():
        record = load(*row)
        if record.finished_at is None or record.finished_at >= before:
            break
        old.append(record)
    if not old:
        return []
    cursor = await conn.execute(
        "DELETE FROM quart_tasks WHERE id = ANY(%s) RETURNING id",
        ([record.id for record in old],),
    )
    deleted = {row[0] for row in await cursor.fetchall()}
    return [record for record in old if record.id in deleted]
