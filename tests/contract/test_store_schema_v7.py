"""Schema version 7: a version-6 store upgrades in place, building the index of finish times
over every finished row, damaged ones included, and the stats read through it at once."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from tasks import SQLiteStore, State, Store, TaskRecord
from tasks.store.postgres import PostgresStore
from tasks.store.postgres.schema import SCHEMA_VERSION as POSTGRES_SCHEMA_VERSION
from tasks.store.sqlite.store import SCHEMA_VERSION
from tests.contract.test_store_schema import user_version

T0 = datetime(2026, 12, 5, 14, 0, tzinfo=UTC)
#: rows an upgrade finds damaged: not JSON, and JSON a parser gives up on
DAMAGE = ('{"id": "broken', "[" * 100_000)


def records() -> tuple[list[TaskRecord], list[TaskRecord]]:
    """Finished records to keep, and finished records to damage."""

    def ended(minutes: int) -> TaskRecord:
        finished = T0 + timedelta(minutes=minutes)
        return TaskRecord.new("send", {"n": minutes}).replace(
            state=State.SUCCEEDED,
            created_at=finished - timedelta(seconds=3),
            started_at=finished - timedelta(seconds=2),
            finished_at=finished,
        )

    return [ended(1), ended(2)], [ended(3), ended(4)]


async def fill(store: Store, *groups: list[TaskRecord]) -> None:
    for group in groups:
        for record in group:
            await store.create(record, owner=None, lease=30)
    await store.create(TaskRecord.new("send", {}), owner=None, lease=30)


async def check_upgraded(store: Store, kept: list[TaskRecord]) -> None:
    stats = await store.stats(since=T0, until=T0 + timedelta(hours=1), bucket=3600)
    assert [(n.name, n.finished, n.p50, n.p95) for n in stats.names] == [
        ("send", {"succeeded": 2}, 2.0, 2.0)
    ]
    assert stats.live == {"send": {"queued": 1}}
    assert len(await store.query()) == 5
    assert [r.id for r in await store.query(text='"n":2')] == [kept[1].id]


async def test_a_version_6_sqlite_file_with_damaged_rows_upgrades(tmp_path: Path) -> None:
    path = tmp_path / "v6.sqlite3"
    kept, damaged = records()
    store = SQLiteStore(path)
    await store.open()
    await fill(store, kept, damaged)
    await store.close()
    with closing(sqlite3.connect(path)) as conn:  # back to version 6, which had no index
        conn.execute("DROP INDEX tasks_finished_at")
        for record, data in zip(damaged, DAMAGE, strict=True):
            conn.execute("UPDATE tasks SET data = ? WHERE id = ?", (data, record.id))
        conn.execute("PRAGMA user_version = 6")
        conn.commit()
    store = SQLiteStore(path)
    await store.open()
    try:
        await check_upgraded(store, kept)
    finally:
        await store.close()
    assert user_version(path) == SCHEMA_VERSION == 7
    with closing(sqlite3.connect(path)) as conn:
        indexed = conn.execute(
            "SELECT count(*) FROM tasks INDEXED BY tasks_finished_at "
            "WHERE state IN ('succeeded', 'failed', 'cancelled') AND "
            "CASE WHEN json_valid(data) THEN json_extract(data, '$.finished_at') END >= ''"
        ).fetchone()
    assert indexed == (2,)  # the damaged rows are there, with no finish time


async def test_a_version_6_postgres_database_with_damaged_rows_upgrades(
    postgres_url: str,
) -> None:
    kept, damaged = records()
    store = PostgresStore(postgres_url)
    await store.open()
    await fill(store, kept, damaged)
    await store.close()
    with psycopg.connect(postgres_url, autocommit=True) as conn:  # back to version 6
        conn.execute("DROP INDEX quart_tasks_finished_at")
        conn.execute("DROP FUNCTION quart_tasks_field, quart_tasks_micros, quart_tasks_number_new")
        conn.execute("DROP FUNCTION quart_tasks_store_id")
        for record, data in zip(damaged, DAMAGE, strict=True):
            conn.execute("UPDATE quart_tasks SET data = %s WHERE id = %s", (data, record.id))
        conn.execute("UPDATE quart_tasks_store SET schema_version = 6")
    store = PostgresStore(postgres_url)
    await store.open()
    try:
        await check_upgraded(store, kept)
    finally:
        await store.close()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        version = conn.execute("SELECT schema_version FROM quart_tasks_store").fetchone()
        index = conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'quart_tasks_finished_at'"
        ).fetchone()
    assert version == (POSTGRES_SCHEMA_VERSION,) == (9,)
    assert index is not None
