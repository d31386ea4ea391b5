"""Schema version 3: a version-2 store upgrades in place with every record intact (each with
no parent), and from then on keeps the parent of each new task in a column of its own."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from tasks import SQLiteStore, State, TaskRecord
from tasks.store.postgres import PostgresStore
from tasks.store.postgres.schema import SCHEMA_VERSION as POSTGRES_SCHEMA_VERSION
from tasks.store.sqlite.store import SCHEMA_VERSION
from tests.contract.test_store_schema import (
    FIRST_RELEASE_SCHEMA,
    HOLDER,
    POSTGRES_VERSION_1,
    VERSION_3_FIELDS,
    user_version,
)

OWNER = "new:2:bbbb"

#: The SQLite schema as version 2 left it. Frozen here on purpose, like the first release's.
SQLITE_VERSION_2 = (
    FIRST_RELEASE_SCHEMA
    + """
ALTER TABLE tasks ADD COLUMN run_at REAL;
ALTER TABLE tasks ADD COLUMN idempotency_key TEXT;
CREATE UNIQUE INDEX tasks_by_key ON tasks (idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX tasks_due ON tasks (run_at) WHERE state = 'scheduled';
CREATE TABLE schedules (
    name      TEXT PRIMARY KEY,
    last_tick REAL NOT NULL,
    task_id   TEXT
);
PRAGMA user_version = 2;
"""
)

#: What version 2 added to the PostgreSQL tables of version 1. Frozen here on purpose.
POSTGRES_VERSION_2 = (
    "UPDATE quart_tasks_store SET schema_version = 2, seq = 3",
    "ALTER TABLE quart_tasks ADD COLUMN run_at double precision, ADD COLUMN idempotency_key text",
    "CREATE UNIQUE INDEX quart_tasks_by_key ON quart_tasks (idempotency_key) "
    "WHERE idempotency_key IS NOT NULL",
    "CREATE INDEX quart_tasks_due ON quart_tasks (run_at) WHERE state = 'scheduled'",
    """CREATE TABLE quart_tasks_schedules (
        name      text PRIMARY KEY,
        last_tick double precision NOT NULL,
        task_id   text
    )""",
)

TICK = datetime(2024, 5, 1, 12, tzinfo=UTC)


def version_2_rows() -> list[tuple[TaskRecord, str | None]]:
    """Records of each kind version 2 kept (a delayed one with a key, a held one, a
    scheduled run that ended), each with its holder."""
    return [
        (
            TaskRecord.new("count", {"n": 1}).replace(
                state=State.SCHEDULED,
                run_at=datetime.now(UTC) + timedelta(hours=1),
                idempotency_key="once",
            ),
            None,
        ),
        (TaskRecord.new("count", {"n": 2}).started(), HOLDER),
        (
            TaskRecord.new("beat", {})
            .replace(schedule="beat", tick=TICK)
            .started()
            .finished(State.SUCCEEDED, result=[1]),
            None,
        ),
    ]


def version_2_values(record: TaskRecord, owner: str | None, seq: int) -> tuple[object, ...]:
    """The columns version 2 wrote for ``record``, in the order of its INSERT below."""
    data = record.to_dict()
    for field in ("owner", "cancel_requested", *VERSION_3_FIELDS):
        del data[field]  # version 2 kept neither owner nor flag in the JSON, nor these at all
    run_at = record.run_at.timestamp() if record.run_at else None
    values = (record.id, record.name, record.state.value, seq, owner, json.dumps(data))
    return (*values, run_at, record.idempotency_key)


@pytest.fixture
def version_2_file(tmp_path: Path) -> tuple[Path, list[TaskRecord]]:
    """A store file exactly as version 2 leaves it, with records and a schedule's tick."""
    path = tmp_path / "v2.sqlite3"
    rows = version_2_rows()
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(SQLITE_VERSION_2)
        for seq, (record, owner) in enumerate(rows, 1):
            conn.execute(
                "INSERT INTO tasks (id, name, state, seq, owner, data, run_at, idempotency_key) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                version_2_values(record, owner, seq),
            )
        conn.execute("INSERT INTO owners VALUES (?, ?)", (HOLDER, 1e12))
        conn.execute(
            "INSERT INTO schedules VALUES ('beat', ?, ?)", (TICK.timestamp(), rows[2][0].id)
        )
        conn.commit()
    return path, [record.replace(owner=owner) for record, owner in rows]


async def _use_the_version_3_features(
    store: SQLiteStore | PostgresStore, old: list[TaskRecord]
) -> tuple[TaskRecord, TaskRecord]:
    """The old records read back as they were, with no parent; a new workflow keeps its
    parent, and a cancel of its parent reaches it. Returns the new parent and child."""
    for record in old:
        assert await store.get(record.id) == record
        assert record.parent is None
    assert [change.seq for change in await store.changes(0)] == [1, 2, 3]
    assert await store.next_due() == old[0].run_at
    parent = TaskRecord.new("flow", {}).started()
    await store.create(parent, owner=OWNER, lease=30)
    child = TaskRecord.new("count", {"n": 3}).replace(parent=parent.id, priority=7)
    await store.create(child, owner=None, lease=30)
    assert await store.get(child.id) == child
    latest = await store.latest_change(child.id)
    assert latest is not None
    assert latest.seq == 5  # the numbering goes on from version 2's
    await store.request_cancel(parent.id)
    cancelled = await store.get(child.id)
    assert cancelled is not None
    assert cancelled.state is State.CANCELLED
    assert await store.get(old[1].id) == old[1]  # not in the workflow: untouched
    assert await store.renew(HOLDER, 30) == []
    return parent, child


async def test_a_version_2_sqlite_file_upgrades_and_keeps_the_parent_of_new_tasks(
    version_2_file: tuple[Path, list[TaskRecord]],
) -> None:
    path, old = version_2_file
    store = SQLiteStore(path)
    await store.open()
    try:
        assert user_version(path) == SCHEMA_VERSION == 7
        parent, child = await _use_the_version_3_features(store, old)
    finally:
        await store.close()
    with closing(sqlite3.connect(path)) as conn:
        parents = dict(conn.execute("SELECT id, parent FROM tasks").fetchall())
        priorities = dict(conn.execute("SELECT id, priority FROM tasks").fetchall())
    assert parents == {**{record.id: None for record in old}, parent.id: None, child.id: parent.id}
    assert priorities == {**{record.id: 0 for record in old}, parent.id: 0, child.id: 7}


async def test_a_version_2_postgres_database_upgrades_and_keeps_the_parent_of_new_tasks(
    postgres_url: str,
) -> None:
    rows = version_2_rows()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        for statement in (*POSTGRES_VERSION_1, *POSTGRES_VERSION_2):
            conn.execute(statement)
        for seq, (record, owner) in enumerate(rows, 1):
            conn.execute(
                "INSERT INTO quart_tasks "
                "(id, name, state, seq, owner, data, run_at, idempotency_key) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                version_2_values(record, owner, seq),
            )
        conn.execute(
            "INSERT INTO quart_tasks_owners VALUES (%s, extract(epoch from now()) + 3600)",
            (HOLDER,),
        )
    store = PostgresStore(postgres_url)
    await store.open()
    try:
        parent, child = await _use_the_version_3_features(
            store, [record.replace(owner=owner) for record, owner in rows]
        )
    finally:
        await store.close()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        version = conn.execute("SELECT schema_version FROM quart_tasks_store").fetchone()
        parents: dict[str, str | None] = dict(
            conn.execute("SELECT id, parent FROM quart_tasks").fetchall()
        )
        priorities: dict[str, int] = dict(
            conn.execute("SELECT id, priority FROM quart_tasks").fetchall()
        )
    assert version == (POSTGRES_SCHEMA_VERSION,)
    assert POSTGRES_SCHEMA_VERSION == 9
    assert priorities == {**{record.id: 0 for record, _ in rows}, parent.id: 0, child.id: 7}
    assert parents == {
        **{record.id: None for record, _ in rows},
        parent.id: None,
        child.id: parent.id,
    }
