"""What only the PostgreSQL store promises: many processes, commit-ordered changes, NOTIFY."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

import psycopg
import psycopg.sql
import pytest

from tasks import StoreSchemaError, StoreUnavailable, TaskRecord
from tasks.store.postgres import PostgresStore, owners
from tasks.store.postgres.schema import SCHEMA_VERSION
from tests.harness import WAIT


def never_dead(owner: str) -> bool:
    return False


@asynccontextmanager
async def opened(url: str, count: int = 1) -> AsyncIterator[list[PostgresStore]]:
    """``count`` stores on one database, as separate processes would have."""
    stores = [PostgresStore(url) for _ in range(count)]
    try:
        for store in stores:
            await store.open()
        yield stores
    finally:
        for store in stores:
            await store.close()


async def test_two_stores_on_one_database_share_records_and_sequence(postgres_url: str) -> None:
    async with opened(postgres_url, 2) as (first, second):
        one, two = TaskRecord.new("count", {}), TaskRecord.new("count", {})
        await first.create(one, owner="a", lease=30)
        await second.create(two, owner="b", lease=30)
        assert await second.get(one.id) is not None
        changes = await first.changes(0)
        assert [c.record.id for c in changes] == [one.id, two.id]
        assert [c.seq for c in changes] == [1, 2]


async def test_concurrent_claims_from_two_stores_never_overlap(postgres_url: str) -> None:
    async with opened(postgres_url, 2) as stores:
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


async def test_a_follower_misses_no_change_while_several_processes_write(
    postgres_url: str,
) -> None:
    """Readers resume "after N"; with numbers out of commit order they would skip some."""
    async with opened(postgres_url, 4) as (reader, *writers):
        written: list[str] = []

        async def write(store: PostgresStore) -> None:
            for _ in range(60):
                record = TaskRecord.new("count", {})
                await store.create(record, owner=None, lease=30)
                written.append(record.id)

        seen: list[int] = []
        seen_ids: set[str] = set()
        writing = asyncio.gather(*(write(store) for store in writers for _ in range(3)))
        async with asyncio.timeout(WAIT * 3):
            while not writing.done() or len(seen_ids) < len(written):
                for change in await reader.changes(seen[-1] if seen else 0, limit=50):
                    seen.append(change.seq)
                    seen_ids.add(change.record.id)
                await asyncio.sleep(0)  # let the writers go on between reads
            await writing
        assert seen == sorted(set(seen))
        assert seen_ids == set(written)
        assert seen[-1] == await reader.last_seq() == len(written)


async def test_a_write_through_one_store_wakes_the_watchers_of_another(
    postgres_url: str,
) -> None:
    async with opened(postgres_url, 2) as (writer, watcher):
        woken = asyncio.Event()
        unwatch = watcher.watch_changes(woken.set)
        try:
            async with asyncio.timeout(WAIT):
                await woken.wait()  # once listening: what committed before is read now
                woken.clear()
                await writer.create(TaskRecord.new("count", {}), owner=None, lease=30)
                await woken.wait()
        finally:
            unwatch()


async def test_work_is_announced_only_when_a_task_is_left_free_to_claim(
    postgres_url: str,
) -> None:
    """Workers that take from the store hear of stored-unheld and handed-back tasks, not of
    writes of tasks someone holds (notifications arrive in commit order)."""
    owner = "host:1:aaaa"
    async with opened(postgres_url, 2) as (writer, worker):
        heard: list[int] = []
        woken = asyncio.Event()

        def hear() -> None:
            heard.append(1)
            woken.set()

        unwatch = worker.watch_work(hear)
        try:
            async with asyncio.timeout(WAIT):
                await woken.wait()  # once listening
                heard.clear()
                woken.clear()
                held = TaskRecord.new("count", {})
                await writer.create(held, owner=owner, lease=30)
                await writer.update(held.started(), owner=owner)
                await writer.create(TaskRecord.new("count", {}), owner=None, lease=30)
                await woken.wait()
                assert len(heard) == 1  # the held task's writes announced nothing
                heard.clear()
                woken.clear()
                assert await writer.release(owner) == 1  # handed back: free to claim
                await woken.wait()
                assert len(heard) == 1
        finally:
            unwatch()


async def test_text_that_means_something_to_sql_is_stored_as_given(postgres_url: str) -> None:
    """Plain writes go to the server as one query, with their values quoted by the driver:
    quotes, backslashes, dollar quoting and comments come back unchanged."""
    awkward = ["'; DROP TABLE quart_tasks; --", "\\x00 \\", "$$ $tag$", "/* é \u2028 */", '"']
    async with opened(postgres_url) as (store,):
        records = [TaskRecord.new("echo", {"text": text}) for text in awkward]
        await asyncio.gather(*(store.create(r, owner="a", lease=30) for r in records))
        started = [r.started() for r in records]
        assert await asyncio.gather(*(store.update(r, owner="a") for r in started)) == [True] * 5
        for record in records:
            found = await store.get(record.id)
            assert found is not None
            assert found.kwargs == record.kwargs


async def test_a_claim_in_a_batch_of_writes_sees_them_and_numbers_after_them(
    postgres_url: str,
) -> None:
    """A claim queued behind inserts in one batch runs in their transaction: it sees them,
    and numbers its changes after theirs."""
    async with opened(postgres_url) as (store,):
        records = [TaskRecord.new("count", {}) for _ in range(3)]
        stored = [store.create_soon(r, owner=None, lease=30) for r in records]
        claim = partial(owners.claim, owner="b", lease=30, limit=10, dead=[], names=None)
        claimed = store._batches.submit(claim)  # queued now, in the inserts' batch
        await asyncio.gather(*stored)
        assert [r.id for r in await claimed] == [r.id for r in records]
        changes = await store.changes(0, 100)
        assert [c.record.id for c in changes] == [r.id for r in records]
        assert [c.record.owner for c in changes] == ["b", "b", "b"]
        assert [c.seq for c in changes] == [4, 5, 6]  # 1 to 3: the inserts


async def test_a_database_from_a_newer_version_is_refused(postgres_url: str) -> None:
    async with opened(postgres_url):
        pass
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("UPDATE quart_tasks_store SET schema_version = %s", (SCHEMA_VERSION + 1,))
    store = PostgresStore(postgres_url)
    try:
        with pytest.raises(StoreSchemaError, match="upgrade quart-tracked-tasks"):
            await store.open()
    finally:
        await store.close()


async def test_processes_opening_at_once_agree_whatever_the_default_isolation(
    postgres_url: str,
) -> None:
    """Those that waited for the first one's lock see the tables it made, even where each
    transaction would otherwise keep the snapshot taken before the wait."""
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        database = conn.info.dbname
        conn.execute(
            psycopg.sql.SQL(
                "ALTER DATABASE {} SET default_transaction_isolation TO 'repeatable read'"
            ).format(psycopg.sql.Identifier(database))
        )
    stores = [PostgresStore(postgres_url) for _ in range(4)]
    try:
        await asyncio.gather(*(store.open() for store in stores))
        identities = {store._store_id for store in stores}
    finally:
        await asyncio.gather(*(store.close() for store in stores))
    assert len(identities) == 1
    assert None not in identities


async def test_opening_twice_keeps_the_records(postgres_url: str) -> None:
    record = TaskRecord.new("count", {"n": 2})
    async with opened(postgres_url) as (store,):
        await store.create(record, owner=None, lease=30)
    async with opened(postgres_url) as (store,):
        assert await store.get(record.id) == record
        assert await store.last_seq() == 1


async def test_an_unreachable_database_opens_and_answers_unavailable() -> None:
    store = PostgresStore("postgresql://postgres@127.0.0.1:9/none", acquire_timeout=0.5)
    await store.open()  # a server may start before its database
    try:
        with pytest.raises(StoreUnavailable, match="retry shortly") as refused:
            await store.get("x")
        assert refused.value.status == 503
        with pytest.raises(StoreUnavailable):
            await store.create(TaskRecord.new("count", {}), owner=None, lease=30)
    finally:
        await store.close()


def test_the_password_is_kept_out_of_messages() -> None:
    from tasks.store.locations import redact

    assert redact("postgresql://u:secret@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert redact("postgresql://u@h/db") == "postgresql://u@h/db"
