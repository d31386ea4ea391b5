"""Several stores on one file or database, as several processes: one run per tick, one task
per key, one taker per due task."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tasks import SQLiteStore, State, Store, TaskRecord
from tasks.store.postgres import PostgresStore

TICK = datetime(2030, 1, 1, 3, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgres"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Store]:
    """A factory of stores sharing one SQLite file, or one PostgreSQL database."""
    if request.param == "sqlite":
        return lambda: SQLiteStore(tmp_path / "shared.sqlite3")
    url: str = request.getfixturevalue("postgres_url")
    return lambda: PostgresStore(url)


@asynccontextmanager
async def opened(make: Callable[[], Store], count: int) -> AsyncIterator[list[Store]]:
    stores = [make() for _ in range(count)]
    try:
        for store in stores:
            await store.open()
        yield stores
    finally:
        for store in stores:
            await store.close()


async def test_processes_racing_at_each_tick_store_one_run_per_tick(
    make_store: Callable[[], Store],
) -> None:
    async with opened(make_store, 3) as stores:
        ticks = [TICK + timedelta(seconds=2 * n) for n in range(10)]
        for tick in ticks:
            outcomes = await asyncio.gather(
                *(
                    store.advance_schedule(
                        "beat",
                        tick,
                        TaskRecord.new("beat", {}).replace(schedule="beat", tick=tick),
                        owner=f"p{index}",
                        lease=30,
                    )
                    for index, store in enumerate(stores)
                    for _ in range(3)
                )
            )
            assert outcomes.count(True) == 1
        runs = await stores[0].query(limit=100)
        assert sorted(run.tick for run in runs if run.tick) == ticks


async def test_processes_submitting_one_key_store_one_task(
    make_store: Callable[[], Store],
) -> None:
    async with opened(make_store, 3) as stores:
        attempts = [
            (store, TaskRecord.new("count", {"n": 1}).replace(idempotency_key="pay-42"))
            for store in stores
            for _ in range(7)
        ]
        outcomes = await asyncio.gather(
            *(store.create(record, owner=None, lease=30) for store, record in attempts)
        )
        (stored,) = await stores[1].query()
        assert outcomes.count(None) == 1
        assert {o.id for o in outcomes if o is not None} == {stored.id}


async def test_processes_taking_due_tasks_take_each_once(make_store: Callable[[], Store]) -> None:
    async with opened(make_store, 2) as stores:
        now = datetime.now(UTC)
        for _ in range(40):
            record = TaskRecord.new("count", {}).replace(state=State.SCHEDULED, run_at=now)
            await stores[0].create(record, owner=None, lease=30)
        rounds = await asyncio.gather(
            *(
                store.take_due(f"o{index}-{n}", 30, now=now, limit=3)
                for n in range(10)
                for index, store in enumerate(stores)
            )
        )
        ids = [record.id for taken in rounds for record in taken]
        assert len(ids) == len(set(ids)) == 40
