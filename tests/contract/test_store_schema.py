"""Schema versions: older stores upgrade in place, records intact; newer ones are refused.

Version 1 is the first release's schema; version 2 added delayed tasks, idempotency keys and
schedule ticks; version 3 the parent of each task (workflows).
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from tasks import SQLiteStore, State, StoreSchemaError, TaskRecord
from tasks.store.postgres import PostgresStore
from tasks.store.postgres.schema import SCHEMA_VERSION as POSTGRES_SCHEMA_VERSION
from tasks.store.sqlite.store import SCHEMA_VERSION

#: The SQLite schema as the first release wrote it, with no version recorded (0). Frozen
#: here on purpose: it is what files in the field contain, whatever the code does today.
FIRST_RELEASE_SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    state            TEXT NOT NULL,
    seq              INTEGER NOT NULL,
    owner            TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    data             TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS tasks_by_state ON tasks (state);
CREATE INDEX IF NOT EXISTS tasks_by_name ON tasks (name);
CREATE INDEX IF NOT EXISTS tasks_by_owner ON tasks (owner);
CREATE UNIQUE INDEX IF NOT EXISTS tasks_by_seq ON tasks (seq);
CREATE TABLE IF NOT EXISTS owners (
    owner       TEXT PRIMARY KEY,
    lease_until REAL NOT NULL
);
"""

HOLDER = "old-host:1:aaaa"
#: the record fields that versions 1 and 2 did not write
VERSION_3_FIELDS = ("parent", "children", "steps")


def first_release_records() -> list[TaskRecord]:
    base = TaskRecord.new("count", {"n": 3}).replace(max_attempts=2, timeout=4.5)
    return [
        base,
        TaskRecord.new("count", {"n": 1}).started(),
        TaskRecord.new("sleep", {"seconds": 1}).started().finished(State.SUCCEEDED, result=[1]),
        TaskRecord.new("fail", {}).finished(State.CANCELLED),
    ]


@pytest.fixture
def first_release_file(tmp_path: Path) -> tuple[Path, list[TaskRecord]]:
    """A store file exactly as the first release leaves it, with records in several states."""
    path = tmp_path / "old.sqlite3"
    records = first_release_records()
    owners = [HOLDER, HOLDER, None, None]
    flags = [0, 1, 0, 0]
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(FIRST_RELEASE_SCHEMA)
        for seq, (record, owner, flag) in enumerate(zip(records, owners, flags, strict=True), 1):
            data = record.to_dict()
            for field in (
                "owner",
                "cancel_requested",
                "run_at",
                "idempotency_key",
                "schedule",
                "tick",
                *VERSION_3_FIELDS,
            ):
                del data[field]  # the first release wrote none of these
            conn.execute(
                "INSERT INTO tasks (id, name, state, seq, owner, cancel_requested, data) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (record.id, record.name, record.state.value, seq, owner, flag, json.dumps(data)),
            )
        conn.execute("INSERT INTO owners VALUES (?, ?)", (HOLDER, 1e12))
    conn.close()
    expected = [
        record.replace(owner=owner, cancel_requested=bool(flag))
        for record, owner, flag in zip(records, owners, flags, strict=True)
    ]
    return path, expected


def never_dead(owner: str) -> bool:
    return False


def user_version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        version: int = conn.execute("PRAGMA user_version").fetchone()[0]
        return version
    finally:
        conn.close()


async def test_a_first_release_sqlite_file_upgrades_with_every_record_intact(
    first_release_file: tuple[Path, list[TaskRecord]],
) -> None:
    path, expected = first_release_file
    assert user_version(path) == 0
    store = SQLiteStore(path)
    await store.open()
    try:
        assert user_version(path) == SCHEMA_VERSION
        for record in expected:
            assert await store.get(record.id) == record
        assert [r.id for r in await store.query()] == [r.id for r in reversed(expected)]
        assert [c.seq for c in await store.changes(0)] == [1, 2, 3, 4]
        # leases and flags carried over: the live holder keeps its tasks, and sees its cancel
        assert await store.claim("new:2:bbbb", 30, limit=10, is_dead=never_dead) == []
        assert await store.renew(HOLDER, 30) == [expected[1].id]
        fresh = TaskRecord.new("count", {})
        await store.create(fresh, owner=None, lease=30)
        assert (await store.changes(4))[0].seq == 5
    finally:
        await store.close()


async def test_a_fresh_sqlite_file_records_the_current_version(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "new.sqlite3")
    await store.open()
    await store.close()
    assert user_version(tmp_path / "new.sqlite3") == SCHEMA_VERSION


async def test_a_sqlite_file_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    store = SQLiteStore(path)
    with pytest.raises(StoreSchemaError, match="upgrade quart-tracked-tasks"):
        await store.open()
    assert user_version(path) == SCHEMA_VERSION + 1


async def test_a_version_1_sqlite_file_upgrades_and_takes_the_new_kinds_of_task(
    first_release_file: tuple[Path, list[TaskRecord]],
) -> None:
    path, expected = first_release_file
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 1")  # the same tables, as version 1 recorded them
    conn.close()
    store = SQLiteStore(path)
    await store.open()
    try:
        assert user_version(path) == SCHEMA_VERSION == 7
        for record in expected:
            assert await store.get(record.id) == record
        await _use_the_version_2_features(store)
    finally:
        await store.close()


async def _use_the_version_2_features(store: SQLiteStore | PostgresStore) -> None:
    """Delayed tasks, keys and ticks work on an upgraded store; old records stay as they were."""
    now = datetime.now(UTC)
    later = TaskRecord.new("count", {}).replace(state=State.SCHEDULED, run_at=now)
    await store.create(later, owner=None, lease=30)
    assert [r.id for r in await store.take_due("new:2:bbbb", 30, now=now, limit=10)] == [later.id]
    keyed = TaskRecord.new("count", {}).replace(idempotency_key="k")
    assert await store.create(keyed, owner=None, lease=30) is None
    again = await store.create(
        TaskRecord.new("count", {}).replace(idempotency_key="k"), owner=None, lease=30
    )
    assert again is not None
    assert again.id == keyed.id
    tick = now.replace(microsecond=0)
    assert await store.advance_schedule("beat", tick, None, owner=None, lease=30)
    assert [mark.tick for mark in await store.schedule_marks()] == [tick]


#: The PostgreSQL tables as version 1 created them. Frozen here on purpose, like the SQLite one.
POSTGRES_VERSION_1 = (
    """CREATE TABLE quart_tasks_store (
        single         boolean PRIMARY KEY DEFAULT true CHECK (single),
        schema_version integer NOT NULL,
        seq            bigint NOT NULL DEFAULT 0
    )""",
    "INSERT INTO quart_tasks_store (schema_version, seq) VALUES (1, 4)",
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
    "CREATE INDEX quart_tasks_live ON quart_tasks (position) WHERE state IN ('queued', 'running')",
    """CREATE TABLE quart_tasks_owners (
        owner       text PRIMARY KEY,
        lease_until double precision NOT NULL
    )""",
)


async def test_a_version_1_postgres_database_upgrades_with_every_record_intact(
    postgres_url: str,
) -> None:
    records = first_release_records()
    owners = [HOLDER, HOLDER, None, None]
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        for statement in POSTGRES_VERSION_1:
            conn.execute(statement)
        for seq, (record, owner) in enumerate(zip(records, owners, strict=True), 1):
            data = record.to_dict()
            for field in (
                "owner",
                "cancel_requested",
                "run_at",
                "idempotency_key",
                "schedule",
                "tick",
                *VERSION_3_FIELDS,
            ):
                del data[field]  # version 1 wrote none of these
            conn.execute(
                "INSERT INTO quart_tasks (id, name, state, seq, owner, data) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                (record.id, record.name, record.state.value, seq, owner, json.dumps(data)),
            )
    store = PostgresStore(postgres_url)
    await store.open()
    try:
        for record, owner in zip(records, owners, strict=True):
            assert await store.get(record.id) == record.replace(owner=owner)
        assert [c.seq for c in await store.changes(0)] == [1, 2, 3, 4]
        await _use_the_version_2_features(store)
    finally:
        await store.close()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        row = conn.execute("SELECT schema_version FROM quart_tasks_store").fetchone()
        assert row == (POSTGRES_SCHEMA_VERSION,)
