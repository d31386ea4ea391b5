"""A SQLite file damaged in the middle while the store runs: once any connection meets the
damage (or the periodic file check finds it), every operation is refused for good, with a
message that says to restore the file, so that health cannot go back to ok."""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from tasks import Registry, SQLiteStore, State, StoreUnavailable, TaskRecord
from tasks.store.sqlite import loop_writer
from tasks.store.sqlite.corruption import Corruption, is_corruption, quick_check
from tests.conftest import RegistryAppFactory
from tests.harness import WAIT, serving

OWNER = "host:1:aaaa"
COUNT = 600
MIDDLE = COUNT // 2
CORRUPTED = r"corrupted \(.+\): restore it from a backup \(or move it aside.*\), then restart"


def never_dead(owner: str) -> bool:
    return False


def marker(n: int) -> str:
    return f"<<row-{n:04d}>>"


def build(path: Path) -> list[TaskRecord]:
    """A file of ``COUNT`` records (about 1 MB), each findable in the file by its marker."""

    async def fill() -> list[TaskRecord]:
        store = SQLiteStore(path)
        await store.open()
        try:
            records = [
                TaskRecord.new("count", {"marker": marker(n), "pad": "x" * 1500})
                for n in range(COUNT)
            ]
            await asyncio.gather(*(store.create(r, owner=OWNER, lease=30) for r in records))
            return [record.replace(owner=OWNER) for record in records]
        finally:
            await store.close()  # the last connection out copies the log into the file

    return asyncio.run(fill())


def garble(path: Path, n: int) -> int:
    """Overwrite the page that holds record ``n`` with garbage, as a broken disk would;
    returns its page number."""
    with sqlite3.connect(path) as conn:
        page_size: int = conn.execute("PRAGMA page_size").fetchone()[0]
    offset = path.read_bytes().index(marker(n).encode())
    page = offset // page_size
    with path.open("r+b") as file:
        file.seek(page * page_size)
        file.write(b"\x5a" * page_size)
    return page + 1


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, list[TaskRecord]]:
    path = tmp_path_factory.mktemp("corruption") / "built.sqlite3"
    records = build(path)
    return path.read_bytes(), records


@asynccontextmanager
async def opened(path: Path) -> AsyncIterator[SQLiteStore]:
    store = SQLiteStore(path)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
def no_file_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """Leave corruption to the operations: the periodic check would race with the test."""
    monkeypatch.setattr(loop_writer, "quick_check", lambda conn, corruption: None)


def copy(built: tuple[bytes, list[TaskRecord]], tmp_path: Path) -> tuple[Path, list[TaskRecord]]:
    path = tmp_path / "corrupt.sqlite3"
    path.write_bytes(built[0])
    return path, built[1]


Operation = Callable[[SQLiteStore, list[TaskRecord]], Awaitable[Any]]

#: every kind of call, reads (on the store's thread) and writes (on the event loop's)
OPERATIONS: dict[str, Operation] = {
    "create": lambda s, r: s.create(TaskRecord.new("count", {}), owner=OWNER, lease=30),
    "update": lambda s, r: s.update(r[0].started(), owner=OWNER),
    "update_soon": lambda s, r: s.update_soon(r[1].started(), owner=OWNER),
    "get": lambda s, r: s.get(r[0].id),
    "query": lambda s, r: s.query(limit=10),
    "renew": lambda s, r: s.renew(OWNER, 30),
    "claim": lambda s, r: s.claim("other", 30, limit=5, is_dead=never_dead),
    "release": lambda s, r: s.release(OWNER),
    "request_cancel": lambda s, r: s.request_cancel(r[0].id),
    "count": lambda s, r: s.count(State.QUEUED),
    "changes": lambda s, r: s.changes(0),
    "last_seq": lambda s, r: s.last_seq(),
}


#: the first to meet the damage: a read on the store's thread, or a write on the loop's
MEETS: dict[str, Operation] = {
    "read": lambda s, r: s.get(r[MIDDLE].id),
    "write": lambda s, r: s.update(r[MIDDLE].started(), owner=OWNER),
}


@pytest.mark.usefixtures("no_file_check")
@pytest.mark.parametrize("meets", sorted(MEETS))
async def test_once_an_operation_meets_corruption_every_later_one_is_refused(
    built: tuple[bytes, list[TaskRecord]], tmp_path: Path, meets: str
) -> None:
    path, records = copy(built, tmp_path)
    async with opened(path) as store:
        garble(path, MIDDLE)
        # what does not read the damaged page still answers: the damage is not known yet
        assert await store.get(records[0].id) == records[0]

        meet = MEETS[meets]
        with pytest.raises(StoreUnavailable, match="malformed"):
            await meet(store, records)

        for name, operation in OPERATIONS.items():
            with pytest.raises(StoreUnavailable, match=CORRUPTED) as refused:
                await operation(store, records)
            assert "malformed" in str(refused.value), name


@pytest.mark.usefixtures("no_file_check")
async def test_the_api_answers_503_and_health_fails_for_good_once_a_request_meets_it(
    built: tuple[bytes, list[TaskRecord]], tmp_path: Path, make_registry_app: RegistryAppFactory
) -> None:
    path, _ = copy(built, tmp_path)
    registry = Registry()

    @registry.task()
    async def work() -> None:
        return None

    app = make_registry_app(registry, store=SQLiteStore(path), TASKS_POLL_INTERVAL=0.1)
    async with serving(app) as api:
        assert (await api.client.post("/tasks/work", json={})).status_code == 202
        garble(path, MIDDLE)
        listed = await api.client.get("/tasks", query_string={"limit": 1000})  # reads every row
        assert listed.status_code == 503
        assert "malformed" in (await listed.get_json())["error"]["message"]

        for _ in range(3):  # no write lands any more, though none would touch the damage
            refused = await api.client.post("/tasks/work", json={})
            assert refused.status_code == 503
            error = (await refused.get_json())["error"]
            assert error["code"] == "store_unavailable"
            assert re.search(CORRUPTED, error["message"]), error
            health = await api.client.get("/healthz")
            body = await health.get_json()
            assert (health.status_code, body["status"]) == (503, "store_failing")
            assert re.search(CORRUPTED, body["store"]["error"])
            with pytest.raises(StoreUnavailable, match=CORRUPTED):
                await api.runner._upkeep.round()  # the lease renewal that would end the outage
            assert api.runner.store_health.failing


async def test_the_file_check_finds_damage_no_request_has_read(
    built: tuple[bytes, list[TaskRecord]], tmp_path: Path
) -> None:
    path, records = copy(built, tmp_path)
    garble(path, MIDDLE)
    async with opened(path) as store:
        checker = store._checkpointer._thread
        assert checker is not None
        async with asyncio.timeout(WAIT):  # the checker ends once it has found the damage
            await asyncio.to_thread(checker.join)
        with pytest.raises(StoreUnavailable, match=CORRUPTED) as refused:
            await store.get(records[0].id)  # a page the damage spared
        assert "quick_check" in str(refused.value)


def test_quick_check_names_the_damaged_page(
    built: tuple[bytes, list[TaskRecord]], tmp_path: Path
) -> None:
    path, _ = copy(built, tmp_path)
    corruption = Corruption(path)
    with sqlite3.connect(path) as conn:
        quick_check(conn, corruption)
        assert corruption.error is None  # a sound file
    page = garble(path, MIDDLE)
    with sqlite3.connect(path) as conn:
        quick_check(conn, corruption)
    assert corruption.error is not None
    assert f"Page {page}:" in corruption.error
    assert "\n" not in corruption.error


async def test_opening_a_file_that_is_not_a_database_says_it_is_corrupted(
    tmp_path: Path,
) -> None:
    path = tmp_path / "tasks.sqlite3"
    path.write_bytes(os.urandom(64 * 1024))
    store = SQLiteStore(path)
    with pytest.raises(StoreUnavailable, match=CORRUPTED) as refused:
        await store.open()
    assert "file is not a database" in str(refused.value)


@pytest.mark.parametrize(
    ("error", "corrupt"),
    [
        (sqlite3.DatabaseError("database disk image is malformed"), True),
        (sqlite3.DatabaseError("file is not a database"), True),
        (sqlite3.OperationalError("database is locked"), False),
        (sqlite3.OperationalError("attempt to write a readonly database"), False),
        (sqlite3.IntegrityError("UNIQUE constraint failed: tasks.id"), False),
        (ValueError("database disk image is malformed"), False),
    ],
)
def test_only_sqlite_corruption_errors_count(error: Exception, corrupt: bool) -> None:
    assert is_corruption(error) is corrupt
