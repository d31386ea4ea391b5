"""The PostgreSQL store's tables, and bringing a database to the version this code writes.

Table names carry a ``quart_tasks_`` prefix, so that the store can share a database with an
application's own tables. ``quart_tasks_store`` has one row: the schema version and the
change counter (see ``batches.py``).
"""

from __future__ import annotations

from ..schema import upgrade_steps
from .pool import Connection

__all__ = ["SCHEMA_VERSION", "prepare"]

#: the schema version this code writes
SCHEMA_VERSION = 6

# any constant: serialises processes that create or upgrade the tables at the same moment
_LOCK_KEY = 0x7461736B73  # "tasks"

#: ``_STEPS[n]`` takes a database from version n - 1 (0: no tables yet) to n
_STEPS: dict[int, tuple[str, ...]] = {
    1: (
        """CREATE TABLE quart_tasks_store (
            single         boolean PRIMARY KEY DEFAULT true CHECK (single),
            schema_version integer NOT NULL,
            seq            bigint NOT NULL DEFAULT 0
        )""",
        "INSERT INTO quart_tasks_store (schema_version) VALUES (0)",
        # position: creation order, for listing and claiming; seq: the latest change
        """CREATE TABLE quart_tasks (
            position         bigserial NOT NULL,
            id               text PRIMARY KEY,
            name             text NOT NULL,
            state            text NOT NULL,
            seq              bigint NOT NULL,
            owner            text,
            cancel_requested boolean NOT NULL DEFAULT false,
            data             text NOT NULL
        )""",
        "CREATE UNIQUE INDEX quart_tasks_by_seq ON quart_tasks (seq)",
        "CREATE UNIQUE INDEX quart_tasks_by_position ON quart_tasks (position)",
        "CREATE INDEX quart_tasks_by_state ON quart_tasks (state, position)",
        "CREATE INDEX quart_tasks_by_name ON quart_tasks (name, position)",
        "CREATE INDEX quart_tasks_by_owner ON quart_tasks (owner) WHERE owner IS NOT NULL",
        "CREATE INDEX quart_tasks_live ON quart_tasks (position) "
        "WHERE state IN ('queued', 'running')",
        """CREATE TABLE quart_tasks_owners (
            owner       text PRIMARY KEY,
            lease_until double precision NOT NULL
        )""",
    ),
    # delayed tasks (run_at, unix time), idempotency keys, and the ticks of periodic schedules
    2: (
        "ALTER TABLE quart_tasks ADD COLUMN run_at double precision, "
        "ADD COLUMN idempotency_key text",
        "CREATE UNIQUE INDEX quart_tasks_by_key ON quart_tasks (idempotency_key) "
        "WHERE idempotency_key IS NOT NULL",
        "CREATE INDEX quart_tasks_due ON quart_tasks (run_at) WHERE state = 'scheduled'",
        """CREATE TABLE quart_tasks_schedules (
            name      text PRIMARY KEY,
            last_tick double precision NOT NULL,
            task_id   text
        )""",
    ),
    # workflows: the task whose run submitted each one (NULL for the records of version 2)
    3: (
        "ALTER TABLE quart_tasks ADD COLUMN parent text",
        "CREATE INDEX quart_tasks_by_parent ON quart_tasks (parent) WHERE parent IS NOT NULL",
    ),
    # priorities: claims take the live tasks of the highest first (0 for earlier records)
    4: (
        "ALTER TABLE quart_tasks ADD COLUMN priority integer NOT NULL DEFAULT 0",
        "CREATE INDEX quart_tasks_to_claim ON quart_tasks (priority DESC, position) "
        "WHERE state IN ('queued', 'running')",
    ),
    # paused queues: no process starts a task of one (a queue without a row is not paused)
    5: (
        """CREATE TABLE quart_tasks_queues (
            name   text PRIMARY KEY,
            paused boolean NOT NULL DEFAULT false
        )""",
    ),
    # limits: running tasks counted by group (name, concurrency key), and recent starts
    6: (
        "ALTER TABLE quart_tasks ADD COLUMN limit_key text",
        "CREATE INDEX quart_tasks_running_by_limit ON quart_tasks (name, limit_key) "
        "WHERE state = 'running'",
        """CREATE TABLE quart_tasks_starts (
            name text NOT NULL,
            at   double precision NOT NULL
        )""",
        "CREATE INDEX quart_tasks_starts_by_name ON quart_tasks_starts (name, at)",
    ),
}


async def prepare(conn: Connection, where: str) -> None:
    """Create or upgrade the tables in one transaction; refuse a newer schema."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        found = await _version(conn)
        steps = upgrade_steps(found, _STEPS, store="PostgreSQL task store", where=where)
        for statement in steps:
            await conn.execute(statement)
        if steps:
            await conn.execute(
                "UPDATE quart_tasks_store SET schema_version = %s", (SCHEMA_VERSION,)
            )


async def _version(conn: Connection) -> int:
    cursor = await conn.execute("SELECT to_regclass('quart_tasks_store') IS NOT NULL")
    exists = await cursor.fetchone()
    if not exists or not exists[0]:
        return 0
    cursor = await conn.execute("SELECT schema_version FROM quart_tasks_store")
    row = await cursor.fetchone()
    return int(row[0]) if row else 0
