"""Paused queues in the store: ``set_paused`` and ``paused_queues`` on every store, kept across
restarts and seen by every process on the durable ones, announced where the store can."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tasks import Store, TaskRecord, store_from_url
from tasks.store import AnnouncesPauses, AnnouncesWork
from tests.harness import WAIT

OWNER = "host:1:aaaa"


async def test_a_queue_is_paused_and_resumed(store: Store) -> None:
    assert await store.paused_queues() == frozenset()
    await store.set_paused("email", True)
    await store.set_paused("email", True)  # again: no change, no error
    await store.set_paused("reports", True)
    assert await store.paused_queues() == {"email", "reports"}
    await store.set_paused("email", False)
    await store.set_paused("never-paused", False)
    assert await store.paused_queues() == {"reports"}
    await store.set_paused("reports", False)
    assert await store.paused_queues() == frozenset()


async def test_pausing_changes_no_task(store: Store) -> None:
    """The store only keeps the flag: runners decide what to start by it."""
    record = TaskRecord.new("noop", {})
    await store.create(record, owner=None, lease=30)
    last = await store.last_seq()
    await store.set_paused("default", True)
    assert await store.get(record.id) == record
    claimed = await store.claim(OWNER, 30, limit=5, is_dead=lambda _: False)
    assert [task.id for task in claimed] == [record.id]  # claims leave out what they are told
    assert await store.release_task(record.id, OWNER)
    assert await store.last_seq() > last


async def test_a_pause_is_kept_across_a_restart_and_seen_through_every_store_object(
    database_url: str,
) -> None:
    first, second = store_from_url(database_url), store_from_url(database_url)
    await first.open()
    await second.open()
    try:
        await first.set_paused("email", True)
        assert await second.paused_queues() == {"email"}  # another process's view
    finally:
        await first.close()
        await second.close()
    again = store_from_url(database_url)
    await again.open()
    try:
        assert await again.paused_queues() == {"email"}
        await again.set_paused("email", False)
        assert await again.paused_queues() == frozenset()
    finally:
        await again.close()


async def test_postgres_announces_each_pause_and_resume_to_every_process(
    postgres_url: str,
) -> None:
    """Runners keep the paused queues in memory on it: each change must reach them."""
    writer, watcher = store_from_url(postgres_url), store_from_url(postgres_url)
    await writer.open()
    await watcher.open()
    assert isinstance(watcher, AnnouncesPauses)
    assert isinstance(watcher, AnnouncesWork)
    heard, work = asyncio.Event(), asyncio.Event()
    stops = [watcher.watch_pauses(heard.set), watcher.watch_work(work.set)]
    try:
        async with asyncio.timeout(WAIT):
            await heard.wait()  # once listening: whatever came before is read after this
            await work.wait()
            heard.clear()
            work.clear()
            await writer.set_paused("email", True)
            await heard.wait()
            assert await watcher.paused_queues() == {"email"}
            heard.clear()
            await writer.set_paused("email", False)
            await heard.wait()  # and the resume is announced as work: its tasks are free
            await work.wait()
            assert await watcher.paused_queues() == frozenset()
    finally:
        for stop in stops:
            stop()
        await writer.close()
        await watcher.close()


def test_only_postgres_announces_pauses(tmp_path: Path) -> None:
    assert not isinstance(store_from_url(":memory:"), AnnouncesPauses)
    assert not isinstance(store_from_url(f"{tmp_path}/t.db"), AnnouncesPauses)
