"""Stats counted in the store (``RecordReader.stats``), the same on every store: the tasks that
ended in a window by name and state, their run times' percentiles, buckets over the window,
and the live tasks; on the SQL stores through the index of finish times, never failing on a
damaged row."""

from __future__ import annotations

import random
import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest

from tasks import SQLiteStore, State, Store, TaskRecord, store_from_url
from tasks.store.postgres import PostgresStore
from tasks.store.postgres.stats import STATS as POSTGRES_STATS
from tasks.store.sqlite.stats import STATS as SQLITE_STATS
from tasks.store.stats import Bucket, NameStats
from tests.contract.test_stored_json import poison

OWNER = "host:1:aaaa"
T0 = datetime(2026, 12, 5, 14, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
US = timedelta(microseconds=1)


def ended(
    name: str,
    finished: datetime,
    *,
    state: State = State.SUCCEEDED,
    ran: float | None = 1.0,
) -> TaskRecord:
    """A task of ``name`` that ended at ``finished`` in ``state``, after running ``ran``
    seconds (None: it never started)."""
    started = None if ran is None else finished - timedelta(seconds=ran)
    return TaskRecord.new(name, {}).replace(
        state=state,
        created_at=(started or finished) - timedelta(seconds=5),
        started_at=started,
        finished_at=finished,
    )


async def add(store: Store, *records: TaskRecord) -> None:
    for record in records:
        assert await store.create(record, owner=None, lease=30) is None


async def test_tasks_that_ended_in_the_window_are_counted_by_name_and_state(store: Store) -> None:
    at = T0 + timedelta(minutes=5)
    await add(
        store,
        ended("send", at),
        ended("send", at, state=State.FAILED),
        ended("send", at),
        ended("bill", at, state=State.CANCELLED, ran=None),
        TaskRecord.new("bill", {}),  # live: not among what ended
    )
    stats = await store.stats(since=T0, until=T0 + HOUR, bucket=3600)
    assert stats.since == T0
    assert stats.until == T0 + HOUR
    assert stats.bucket == 3600
    assert [(n.name, n.finished) for n in stats.names] == [
        ("bill", {"cancelled": 1}),
        ("send", {"succeeded": 2, "failed": 1}),
    ]


async def test_the_window_holds_since_and_not_until(store: Store) -> None:
    inside = [T0, T0 + HOUR - US]
    outside = [T0 - US, T0 + HOUR, T0 + 2 * HOUR]
    await add(store, *(ended("in", moment) for moment in inside))
    await add(store, *(ended("out", moment) for moment in outside))
    stats = await store.stats(since=T0, until=T0 + HOUR, bucket=600)
    assert [(n.name, n.finished) for n in stats.names] == [("in", {"succeeded": 2})]
    assert sum(sum(b.finished.values()) for b in stats.buckets) == 2


async def test_run_times_at_the_50th_and_95th_percentiles_are_nearest_rank(store: Store) -> None:
    durations = list(range(1, 21))
    random.Random(7).shuffle(durations)  # the order they ended in does not matter
    await add(store, *(ended("twenty", T0 + timedelta(minutes=1), ran=s) for s in durations))
    await add(store, *(ended("three", T0 + timedelta(minutes=2), ran=s) for s in (3, 1, 2)))
    await add(store, ended("one", T0 + timedelta(minutes=3), ran=0.000001))
    stats = await store.stats(since=T0, until=T0 + HOUR, bucket=3600)
    assert {n.name: (n.p50, n.p95) for n in stats.names} == {
        "one": (0.000001, 0.000001),
        "three": (2.0, 3.0),
        "twenty": (10.0, 19.0),
    }


async def test_run_times_are_exact_to_the_microsecond(store: Store) -> None:
    # the seconds of each end fall in different seconds of the clock, and near their edges
    end = T0 + timedelta(seconds=10, microseconds=999_999)
    await add(store, ended("fine", end, ran=1.999998), ended("fine", end, ran=0.5))
    (fine,) = (await store.stats(since=T0, until=T0 + HOUR, bucket=60)).names
    assert (fine.p50, fine.p95) == (0.5, 1.999998)


async def test_only_tasks_that_started_have_run_times(store: Store) -> None:
    at = T0 + timedelta(minutes=1)
    await add(
        store,
        ended("never", at, state=State.CANCELLED, ran=None),
        ended("mixed", at, state=State.CANCELLED, ran=None),
        ended("mixed", at, ran=4),
    )
    stats = await store.stats(since=T0, until=T0 + HOUR, bucket=3600)
    assert stats.names == [
        NameStats("mixed", {"cancelled": 1, "succeeded": 1}, 4.0, 4.0),
        NameStats("never", {"cancelled": 1}, None, None),
    ]


async def test_buckets_cover_the_window_empty_ones_and_a_partial_last_included(
    store: Store,
) -> None:
    minute = timedelta(minutes=1)
    await add(
        store,
        ended("a", T0),
        ended("b", T0 + 9 * minute, state=State.FAILED),
        ended("a", T0 + 20 * minute),  # the first moment of the third bucket
        ended("b", T0 + 25 * minute - US, state=State.CANCELLED),
    )
    stats = await store.stats(since=T0, until=T0 + 25 * minute, bucket=600)
    assert stats.buckets == [
        Bucket(T0, {"succeeded": 1, "failed": 1}),
        Bucket(T0 + 10 * minute, {}),
        Bucket(T0 + 20 * minute, {"succeeded": 1, "cancelled": 1}),
    ]


async def test_buckets_may_be_shorter_than_a_second(store: Store) -> None:
    await add(store, ended("a", T0 + timedelta(seconds=1.25)))
    stats = await store.stats(since=T0, until=T0 + timedelta(seconds=2), bucket=0.5)
    assert [b.start for b in stats.buckets] == [T0 + timedelta(seconds=s) for s in (0, 0.5, 1, 1.5)]
    assert [b.finished for b in stats.buckets] == [{}, {}, {"succeeded": 1}, {}]


async def test_a_window_given_in_another_zone_is_the_same_window(store: Store) -> None:
    await add(store, ended("a", T0 + timedelta(minutes=1)))
    east = timezone(timedelta(hours=2))
    stats = await store.stats(since=T0.astimezone(east), until=(T0 + HOUR), bucket=3600)
    assert stats.since == T0
    assert stats.since.utcoffset() == timedelta(0)
    assert [b.start for b in stats.buckets] == [T0]
    assert [n.name for n in stats.names] == ["a"]


async def test_an_empty_window_has_no_buckets(store: Store) -> None:
    await add(store, ended("a", T0))
    stats = await store.stats(since=T0, until=T0, bucket=60)
    assert (stats.names, stats.buckets) == ([], [])


@pytest.mark.parametrize("bucket", [0, -1, float("nan"), float("inf")])
async def test_a_bucket_must_be_a_positive_number_of_seconds(store: Store, bucket: float) -> None:
    with pytest.raises(ValueError, match="bucket must be a positive number"):
        await store.stats(since=T0, until=T0 + HOUR, bucket=bucket)


async def test_live_tasks_are_counted_by_name_and_state_whatever_the_window(store: Store) -> None:
    later = TaskRecord.new("report", {}).replace(state=State.SCHEDULED, run_at=T0 + HOUR)
    running = TaskRecord.new("send", {}).started()
    await add(store, later, TaskRecord.new("send", {}), TaskRecord.new("send", {}))
    await store.create(running, owner=OWNER, lease=30)
    await add(store, ended("send", T0))  # ended: not live
    stats = await store.stats(since=T0 - 2 * HOUR, until=T0 - HOUR, bucket=600)
    assert stats.names == []
    assert stats.live == {"report": {"scheduled": 1}, "send": {"queued": 2, "running": 1}}


async def test_a_task_counts_once_it_has_ended(store: Store) -> None:
    record = TaskRecord.new("send", {})
    await store.create(record, owner=OWNER, lease=30)
    started = record.started()
    assert await store.update(started, owner=OWNER)
    now = datetime.now(UTC)
    assert (await store.stats(since=now - HOUR, until=now + HOUR, bucket=7200)).live == {
        "send": {"running": 1}
    }
    assert await store.update(started.finished(State.SUCCEEDED), owner=OWNER)
    stats = await store.stats(since=now - HOUR, until=now + HOUR, bucket=7200)
    assert stats.live == {}
    assert [(n.name, n.finished) for n in stats.names] == [("send", {"succeeded": 1})]
    assert [b.finished for b in stats.buckets] == [{"succeeded": 1}]


#: what a damaged row may hold: not JSON, nested past any parser's depth, JSON of another
#: shape, times that are not times, a lone surrogate escaped where a time should be
DAMAGE = [
    '{"id": "broken',
    "[" * 100_000,
    "[1, 2]",
    '{"finished_at": "2026-12-05T14:30:00.000000Zgarbage", "started_at": 7}',
    '{"finished_at": "2026-12-05T14:30:00.\\ud800Z", "started_at": "nope"}',
]


async def test_damaged_rows_do_not_stop_the_stats_and_are_not_counted(database_url: str) -> None:
    store = store_from_url(database_url)
    await store.open()
    try:
        at = T0 + timedelta(minutes=1)
        good = [ended("send", at, ran=2), ended("send", at, ran=4)]
        damaged = [ended("send", at) for _ in DAMAGE]
        await add(store, *good, *damaged, TaskRecord.new("send", {}))
        for record, data in zip(damaged, DAMAGE, strict=True):
            poison(database_url, record.id, data)  # a write over the index: not refused
        stats = await store.stats(since=T0, until=T0 + HOUR, bucket=3600)
    finally:
        await store.close()
    assert stats.names == [NameStats("send", {"succeeded": 2}, 2.0, 4.0)]
    assert stats.buckets == [Bucket(T0, {"succeeded": 2})]
    assert stats.live == {"send": {"queued": 1}}


async def test_the_sqlite_stats_read_the_window_through_the_index_of_finish_times(
    tmp_path: Path,
) -> None:
    path = tmp_path / "t.db"
    store = SQLiteStore(path)
    await store.open()  # creates the tables
    await store.close()
    conn = sqlite3.connect(path)
    try:
        plan = conn.execute(f"EXPLAIN QUERY PLAN {SQLITE_STATS}", ("a", "b", 0, 1, 0)).fetchall()
    finally:
        conn.close()
    steps = [detail for *_, detail in plan]
    assert any("USING INDEX tasks_finished_at" in step for step in steps), steps
    assert not any(step == "SCAN tasks" for step in steps), steps


async def test_the_postgres_stats_read_the_window_through_the_index_of_finish_times(
    postgres_url: str,
) -> None:
    store = PostgresStore(postgres_url)
    await store.open()  # creates the tables
    await store.close()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("SET enable_seqscan = off")  # a few rows: a scan would be cheaper
        plan = conn.execute(
            f"EXPLAIN {POSTGRES_STATS}", ("a", "b", 0, 1, 0), prepare=False
        ).fetchall()
    text = "\n".join(line for (line,) in plan)
    assert "quart_tasks_finished_at" in text, text
