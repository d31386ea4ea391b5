"""The SQLite store's tables, and bringing a file to the version this code writes.

The version is kept in the file's ``PRAGMA user_version``. A file of the first release, which
recorded no version (0), has the tables of version 1 already: that step creates only what is
missing.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ..schema import upgrade_steps

__all__ = ["SCHEMA_VERSION", "upgrade"]

#: the schema version this code writes
SCHEMA_VERSION = 7

#: ``_STEPS[n]`` takes a file from version n - 1 to n
_STEPS: dict[int, tuple[str, ...]] = {
    1: (
        """CREATE TABLE IF NOT EXISTS tasks (
            id               TEXT PRIMARY KEY,
            name             TEXT NOT NULL,
            state            TEXT NOT NULL,
            seq              INTEGER NOT NULL,
            owner            TEXT,
            cancel_requested INTEGER NOT NULL DEFAULT 0,
            data             TEXT NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS tasks_by_state ON tasks (state)",
        "CREATE INDEX IF NOT EXISTS tasks_by_name ON tasks (name)",
        "CREATE INDEX IF NOT EXISTS tasks_by_owner ON tasks (owner)",
        "CREATE UNIQUE INDEX IF NOT EXISTS tasks_by_seq ON tasks (seq)",
        """CREATE TABLE IF NOT EXISTS owners (
            owner       TEXT PRIMARY KEY,
            lease_until REAL NOT NULL
        )""",
    ),
    # delayed tasks (run_at, unix time), idempotency keys, and the ticks of periodic schedules
    2: (
        "ALTER TABLE tasks ADD COLUMN run_at REAL",
        "ALTER TABLE tasks ADD COLUMN idempotency_key TEXT",
        "CREATE UNIQUE INDEX tasks_by_key ON tasks (idempotency_key) "
        "WHERE idempotency_key IS NOT NULL",
        "CREATE INDEX tasks_due ON tasks (run_at) WHERE state = 'scheduled'",
        """CREATE TABLE schedules (
            name      TEXT PRIMARY KEY,
            last_tick REAL NOT NULL,
            task_id   TEXT
        )""",
    ),
    # workflows: the task whose run submitted each one (NULL for the records of version 2)
    3: (
        "ALTER TABLE tasks ADD COLUMN parent TEXT",
        "CREATE INDEX tasks_by_parent ON tasks (parent) WHERE parent IS NOT NULL",
    ),
    # priorities: claims take the live tasks of the highest first (0 for earlier records)
    4: (
        "ALTER TABLE tasks ADD COLUMN priority INTEGER NOT NULL DEFAULT 0",
        "CREATE INDEX tasks_to_claim ON tasks (priority DESC) WHERE state IN ('queued', 'running')",
    ),
    # paused queues: no process starts a task of one (a queue without a row is not paused)
    5: (
        """CREATE TABLE queues (
            name   TEXT PRIMARY KEY,
            paused INTEGER NOT NULL DEFAULT 0
        )""",
    ),
    # limits: running tasks counted by group (name, concurrency key), and recent starts
    6: (
        "ALTER TABLE tasks ADD COLUMN limit_key TEXT",
        "CREATE INDEX tasks_running_by_limit ON tasks (name, limit_key) WHERE state = 'running'",
        """CREATE TABLE starts (
            name TEXT NOT NULL,
            at   REAL NOT NULL
        )""",
        "CREATE INDEX starts_by_name ON starts (name, at)",
    ),
    # stats: the finished records of a window of finish times, found without reading the
    # others; NULL for a row whose JSON is damaged, which json_extract alone would refuse
    # (spelt as ``fields.field('finished_at')`` is, so that queries use it)
    7: (
        "CREATE INDEX tasks_finished_at ON tasks "
        "((CASE WHEN json_valid(data) THEN json_extract(data, '$.finished_at') END)) "
        "WHERE state IN ('succeeded', 'failed', 'cancelled')",
    ),
}


def upgrade(conn: sqlite3.Connection, path: Path) -> None:
    """Bring the file to :data:`SCHEMA_VERSION` in one transaction, or refuse a newer one."""
    if _version(conn) == SCHEMA_VERSION:
        return
    conn.execute("BEGIN IMMEDIATE")  # another process may be upgrading the same file
    try:
        steps = upgrade_steps(_version(conn), _STEPS, store="SQLite task store", where=str(path))
        for statement in steps:
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _version(conn: sqlite3.Connection) -> int:
    version: int = conn.execute("PRAGMA user_version").fetchone()[0]
    return version
