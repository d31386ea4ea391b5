"""Schema version 5: a version-4 store upgrades in place, with no queue paused, and keeps
pauses from then on."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import psycopg

from tasks import SQLiteStore, Store, TaskRecord
from tasks.store.postgres import PostgresStore
from tasks.store.postgres.schema import SCHEMA_VERSION as POSTGRES_SCHEMA_VERSION
from tasks.store.sqlite.store import SCHEMA_VERSION
from tests.contract.test_store_schema import POSTGRES_VERSION_1, user_version
from tests.contract.test_store_schema_v3 import POSTGRES_VERSION_2, SQLITE_VERSION_2

#: What versions 3 and 4 added to SQLite's tables of version 2. Frozen here on purpose.
SQLITE_VERSION_4 = (
    SQLITE_VERSION_2
    + """
ALTER TABLE tasks ADD COLUMN parent TEXT;
CREATE INDEX tasks_by_parent ON tasks (parent) WHERE parent IS NOT NULL;
ALTER TABLE tasks ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
CREATE INDEX tasks_to_claim ON tasks (priority DESC) WHERE state IN ('queued', 'running');
PRAGMA user_version = 4;
"""
)

#: What versions 3 and 4 added to PostgreSQL's tables of version 2. Frozen here on purpose.
POSTGRES_VERSIONS_3_AND_4 = (
    "ALTER TABLE quart_tasks ADD COLUMN parent text",
    "CREATE INDEX quart_tasks_by_parent ON quart_tasks (parent) WHERE parent IS NOT NULL",
    "ALTER TABLE quart_tasks ADD COLUMN priority integer NOT NULL DEFAULT 0",
    "CREATE INDEX quart_tasks_to_claim ON quart_tasks (priority DESC, position) "
    "WHERE state IN ('queued', 'running')",
    "UPDATE quart_tasks_store SET schema_version = 4",
)


async def _pause_on_the_upgraded(store: Store) -> None:
    assert await store.paused_queues() == frozenset()
    record = TaskRecord.new("noop", {}).replace(priority=3)
    await store.create(record, owner=None, lease=30)
    await store.set_paused("default", True)
    assert await store.paused_queues() == {"default"}
    assert await store.get(record.id) == record


async def test_a_version_4_sqlite_file_upgrades_and_keeps_pauses(tmp_path: Path) -> None:
    path = tmp_path / "v4.sqlite3"
    with closing(sqlite3.connect(path)) as conn:
        conn.executescript(SQLITE_VERSION_4)
    assert user_version(path) == 4
    store = SQLiteStore(path)
    await store.open()
    try:
        await _pause_on_the_upgraded(store)
    finally:
        await store.close()
    assert user_version(path) == SCHEMA_VERSION == 7
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("SELECT name, paused FROM queues").fetchall() == [("default", 1)]


async def test_a_version_4_postgres_database_upgrades_and_keeps_pauses(postgres_url: str) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        for statement in (*POSTGRES_VERSION_1, *POSTGRES_VERSION_2, *POSTGRES_VERSIONS_3_AND_4):
            conn.execute(statement)
    store = PostgresStore(postgres_url)
    await store.open()
    try:
        await _pause_on_the_upgraded(store)
    finally:
        await store.close()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        version = conn.execute("SELECT schema_version FROM quart_tasks_store").fetchone()
        paused = conn.execute("SELECT name, paused FROM quart_tasks_queues").fetchall()
    assert version == (POSTGRES_SCHEMA_VERSION,) == (9,)
    assert paused == [("default", True)]
