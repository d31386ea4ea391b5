"""Schema versions: older stores upgrade in place, records intact; newer ones are refused."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tasks import SQLiteStore, State, StoreSchemaError, TaskRecord
from tasks.store.sqlite import SCHEMA_VERSION

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
            del data["owner"], data["cancel_requested"]
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
