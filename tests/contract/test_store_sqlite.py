"""What only the SQLite store promises: sharing one file, WAL, batching, survival."""

from __future__ import annotations

import asyncio
import multiprocessing
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tasks import SQLiteStore, State, StoreUnavailable, TaskRecord


def never_dead(owner: str) -> bool:
    return False


async def test_two_stores_on_one_file_share_records_and_sequence(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    first, second = SQLiteStore(path), SQLiteStore(path)
    await first.open()
    await second.open()
    try:
        one, two = TaskRecord.new("count", {}), TaskRecord.new("count", {})
        await first.create(one, owner="a", lease=30)
        await second.create(two, owner="b", lease=30)
        assert (await second.get(one.id)) is not None
        changes = await first.changes(0)
        assert [c.record.id for c in changes] == [one.id, two.id]
        assert changes[0].seq < changes[1].seq
    finally:
        await first.close()
        await second.close()


async def test_concurrent_claims_from_two_stores_never_overlap(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    stores = [SQLiteStore(path), SQLiteStore(path)]
    for store in stores:
        await store.open()
    try:
        loose = [TaskRecord.new("count", {}) for _ in range(200)]
        await asyncio.gather(*(stores[0].create(r, owner=None, lease=30) for r in loose))
        claims = await asyncio.gather(
            *(
                store.claim(f"owner-{index}-{round_}", 30, limit=7, is_dead=never_dead)
                for round_ in range(20)
                for index, store in enumerate(stores)
            )
        )
        ids = [record.id for claimed in claims for record in claimed]
        assert len(ids) == len(set(ids)) == 200
    finally:
        for store in stores:
            await store.close()


async def test_records_survive_reopening_and_the_file_is_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "tasks.db"
    store = SQLiteStore(path)
    await store.open()
    created = TaskRecord.new("count", {"n": 3})
    await store.create(created, owner="a", lease=30)
    await store.update(created.started().finished(State.SUCCEEDED, result=3), owner="a")
    await store.close()

    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    reopened = SQLiteStore(path)
    await reopened.open()
    try:
        stored = await reopened.get(created.id)
        assert stored is not None
        assert stored.result == 3
        assert stored.state is State.SUCCEEDED
    finally:
        await reopened.close()


async def test_one_failing_operation_does_not_fail_its_batch(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "tasks.db")
    await store.open()
    try:
        duplicate = TaskRecord.new("count", {})
        await store.create(duplicate, owner="a", lease=30)
        fresh = [TaskRecord.new("count", {}) for _ in range(5)]
        results = await asyncio.gather(
            store.create(duplicate, owner="a", lease=30),
            *(store.create(r, owner="a", lease=30) for r in fresh),
            return_exceptions=True,
        )
        assert isinstance(results[0], ValueError)
        assert results[1:] == [None] * 5
        assert len(await store.query()) == 6
    finally:
        await store.close()


async def test_many_writes_at_once_all_commit(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "tasks.db", max_batch=50)
    await store.open()
    try:
        records = [TaskRecord.new("count", {"n": i}) for i in range(500)]
        await asyncio.gather(*(store.create(r, owner="a", lease=30) for r in records))
        assert await store.last_seq() == 500
        assert len(await store.query(limit=1000)) == 500
    finally:
        await store.close()


async def test_calls_before_open_say_what_to_do(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "tasks.db")
    with pytest.raises(RuntimeError, match="not open"):
        await store.get("x")


def test_an_invalid_synchronous_setting_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="synchronous must be"):
        SQLiteStore(tmp_path / "tasks.db", synchronous="SOMETIMES")


async def test_an_unopenable_file_fails_open_clearly(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    store = SQLiteStore(blocker / "tasks.db")
    with pytest.raises((FileExistsError, NotADirectoryError)):
        await store.open()


async def test_a_database_locked_for_too_long_is_reported_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "tasks.db"
    store = SQLiteStore(path, busy_timeout=0.05)
    await store.open()
    blocker = sqlite3.connect(path, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        with pytest.raises(StoreUnavailable, match="retry shortly") as refused:
            await store.create(TaskRecord.new("count", {}), owner="a", lease=30)
        assert refused.value.status == 503
        blocker.execute("ROLLBACK")
        await store.create(TaskRecord.new("count", {}), owner="a", lease=30)
    finally:
        blocker.close()
        await store.close()


def open_and_close(path: str, barrier: Any, errors: Any) -> None:
    async def main() -> None:
        store = SQLiteStore(path)
        barrier.wait()
        await store.open()
        await store.close()

    try:
        asyncio.run(main())
    except Exception as error:
        errors.put(repr(error))


def test_processes_that_open_a_new_file_at_once_all_start(tmp_path: Path) -> None:
    """Several server workers create the same file at startup: switching it to WAL mode
    can then answer "database is locked" at once, which must not stop a worker."""
    context = multiprocessing.get_context("fork")
    for round_ in range(20):
        path = str(tmp_path / f"new-{round_}.db")
        barrier, errors = context.Barrier(6), context.Queue()
        openers = [
            context.Process(target=open_and_close, args=(path, barrier, errors)) for _ in range(6)
        ]
        for opener in openers:
            opener.start()
        for opener in openers:
            opener.join(60)
        assert [opener.exitcode for opener in openers] == [0] * 6
        assert errors.empty(), errors.get()
