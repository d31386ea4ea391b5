"""The SQLite store's paused queues: the ``queues`` table, one row per queue ever paused."""

from __future__ import annotations

import sqlite3

__all__ = ["paused", "set_paused"]


def set_paused(conn: sqlite3.Connection, *, queue: str, paused: bool) -> None:
    conn.execute(
        "INSERT INTO queues (name, paused) VALUES (?, ?) "
        "ON CONFLICT (name) DO UPDATE SET paused = excluded.paused",
        (queue, int(paused)),
    )


def paused(conn: sqlite3.Connection) -> frozenset[str]:
    return frozenset(row[0] for row in conn.execute("SELECT name FROM queues WHERE paused"))
