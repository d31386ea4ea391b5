"""Submitting inside the caller's own PostgreSQL transaction (``connection=``): a rollback
leaves no record and runs nothing; a commit runs the task exactly once; nothing is visible
before the commit; keys, delays and bad input behave as without a transaction."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import dict_row

from tasks import (
    IdempotencyConflict,
    IdempotencyKeyInUse,
    InvalidArguments,
    InvalidOptions,
    Producer,
    QueueFull,
    Registry,
    State,
    TaskNotFound,
    TaskRecord,
)
from tasks.store.postgres import PostgresStore
from tasks.store.postgres.in_transaction import NUMBER_AT_ONCE
from tasks.store.postgres.schema import STORE_ID
from tests.harness import WAIT, run_until_ended
from tests.postgres import fresh_database

registry = Registry()
ran: list[int] = []  # the user ids send_report ran with, in this process
ran_lock = threading.Lock()


@registry.task()
def send_report(user_id: int) -> str:
    with ran_lock:
        ran.append(user_id)
    return f"report {user_id}"


class RolledBack(Exception):
    """Raised inside a transaction block to roll it back."""


@pytest.fixture(autouse=True)
def fresh_log() -> None:
    ran.clear()


@pytest.fixture
def producer(postgres_url: str) -> Iterator[Producer]:
    made = Producer(registry, database=postgres_url)
    yield made
    made.close()


@pytest.fixture
def conn(postgres_url: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    with psycopg.connect(postgres_url) as connection:
        yield connection


async def make_store(database_url: str) -> None:
    """Create a task store's tables in the database at ``database_url``."""
    store = PostgresStore(database_url)
    await store.open()
    await store.close()


def run_them(database_url: str, records: list[TaskRecord]) -> list[TaskRecord]:
    return run_until_ended(registry, database_url, records)


def test_a_rolled_back_submission_leaves_no_record_and_runs_nothing(
    producer: Producer, conn: psycopg.Connection[tuple[object, ...]], postgres_url: str
) -> None:
    lost: list[TaskRecord] = []

    def roll_back() -> None:
        with conn.transaction():
            lost.append(producer.submit(send_report, user_id=1, connection=conn))
            raise RolledBack

    with pytest.raises(RolledBack):
        roll_back()
    assert lost[0].state is State.QUEUED
    with conn.transaction():
        kept = producer.submit(send_report, user_id=2, connection=conn)
    with pytest.raises(TaskNotFound):
        producer.get(lost[0].id)
    (done,) = run_them(postgres_url, [kept])
    assert (done.state, done.result) == (State.SUCCEEDED, "report 2")
    assert ran == [2]  # the runner took everything it could see: the rolled-back task is not
    with pytest.raises(TaskNotFound):
        producer.get(lost[0].id)


def test_nothing_is_visible_before_the_commit_and_it_runs_once_after(
    producer: Producer, conn: psycopg.Connection[tuple[object, ...]], postgres_url: str
) -> None:
    pending = producer.submit(send_report, user_id=1, connection=conn)  # a transaction begins
    with pytest.raises(TaskNotFound):
        producer.get(pending.id)  # another connection does not see it
    meanwhile = producer.submit(send_report, user_id=2)
    run_them(postgres_url, [meanwhile])
    assert ran == [2]  # the runner could not take what is not committed
    conn.commit()
    assert producer.get(pending.id) == pending
    (done,) = run_them(postgres_url, [pending])
    assert (done.state, done.attempts) == (State.SUCCEEDED, 1)
    assert ran == [2, 1]


def test_keys_in_a_transaction_replay_and_conflict(
    producer: Producer, conn: psycopg.Connection[tuple[object, ...]]
) -> None:
    keyed = send_report.options(key="order-7", connection=conn)
    with conn.transaction():
        first = producer.submit(keyed, user_id=7)
        assert producer.submit(keyed, user_id=7).id == first.id  # the same transaction sees it
        with pytest.raises(IdempotencyConflict):
            producer.submit(keyed, user_id=8)
    assert producer.submit(send_report.options(key="order-7"), user_id=7).id == first.id
    with conn.transaction():
        assert producer.submit(keyed, user_id=7).id == first.id  # committed before
    later = producer.submit(send_report.options(delay=3600), user_id=9, connection=conn)
    conn.commit()
    assert producer.get(later.id).state is State.SCHEDULED


def test_bad_input_is_refused_before_anything_is_written(
    producer: Producer, conn: psycopg.Connection[tuple[object, ...]], tmp_path: Path
) -> None:
    with conn.transaction():
        with pytest.raises(InvalidArguments, match="user_id"):
            producer.submit(send_report, user_id="seven", connection=conn)  # type: ignore[arg-type]
        with pytest.raises(InvalidOptions, match=r"psycopg\.Connection"):
            producer.submit(send_report, user_id=1, connection="postgresql://")
        conn.execute("SELECT 1")  # the transaction is still usable
    assert conn.execute("SELECT count(*) FROM quart_tasks").fetchone() == (0,)
    on_sqlite = Producer(registry, database=str(tmp_path / "tasks.sqlite3"))
    with on_sqlite, pytest.raises(InvalidOptions, match="PostgreSQL"):
        on_sqlite.submit(send_report, user_id=1, connection=conn)


def test_a_full_queue_is_refused_in_a_transaction_too(
    postgres_url: str, conn: psycopg.Connection[tuple[object, ...]]
) -> None:
    with Producer(registry, database=postgres_url, max_queued=2) as bounded:
        bounded.submit(send_report, user_id=1)
        bounded.submit(send_report, user_id=2)
        with pytest.raises(QueueFull, match="2 tasks are already waiting"):
            bounded.submit(send_report, user_id=3, connection=conn)
    conn.rollback()


def test_a_burst_in_transactions_counts_at_once(
    producer: Producer, conn: psycopg.Connection[tuple[object, ...]], postgres_url: str
) -> None:
    """Counted as each is stored, not when the store is next read (here every 20 s, and
    once as the producer starts). That one read, if it overlaps the submissions, may leave
    out the one not committed yet (the fifth is refused) or count again those committed
    while it was under way (the third is); without counting at once all six would pass."""

    def accepted_before_refusal(bounded: Producer) -> tuple[int, str]:
        for accepted in range(6):
            try:
                with conn.transaction():
                    bounded.submit(send_report, user_id=accepted, connection=conn)
            except QueueFull as exc:
                return accepted, str(exc)
        raise AssertionError("six tasks in transactions were accepted with max_queued=3")

    with Producer(registry, database=postgres_url, max_queued=3, poll_interval=20) as bounded:
        accepted, refusal = accepted_before_refusal(bounded)
    assert accepted in (2, 3, 4)
    assert "3 tasks are already waiting" in refusal


def test_a_connection_to_a_database_without_the_store_is_refused(
    producer: Producer, postgres_server: str
) -> None:
    with (
        fresh_database(postgres_server) as other,
        psycopg.connect(other) as conn,
        pytest.raises(InvalidOptions, match="no task store"),
    ):
        producer.submit(send_report, user_id=1, connection=conn)


def test_a_connection_to_another_stores_database_writes_nothing_there(
    producer: Producer, postgres_server: str
) -> None:
    """The other database has the tables too, so nothing but the store's identity tells
    them apart; the caller's transaction goes on, with nothing of the task in it."""
    with fresh_database(postgres_server) as other:
        asyncio.run(make_store(other))
        with psycopg.connect(other) as conn:
            for options in (send_report.options(), send_report.options(key="order-1")):
                with pytest.raises(InvalidOptions, match="another task store") as refused:
                    producer.submit(options, user_id=1, connection=conn)
                assert "nothing of the task was stored" in str(refused.value)
            conn.execute("SELECT 1")  # the transaction has not failed
            conn.commit()
            assert conn.execute("SELECT count(*) FROM quart_tasks").fetchone() == (0,)


def test_a_refusal_takes_no_lock_in_the_other_stores_database(
    producer: Producer, postgres_server: str
) -> None:
    with fresh_database(postgres_server) as other:
        asyncio.run(make_store(other))
        with Producer(registry, database=other) as theirs:
            keyed = send_report.options(key="order-1")
            with psycopg.connect(other) as conn:
                with pytest.raises(InvalidOptions, match="another task store"):
                    producer.submit(keyed, user_id=1, connection=conn)
                # the caller's transaction is still open: the key is not held in theirs
                assert theirs.submit(keyed, user_id=1).state is State.QUEUED
                conn.rollback()


def test_a_caller_s_transaction_never_touches_the_row_every_store_write_updates(
    producer: Producer, conn: psycopg.Connection[tuple[object, ...]]
) -> None:
    """A serializable caller would otherwise conflict with the store's own writes."""
    producer.submit(send_report.options(key="order-1"), user_id=1, connection=conn)
    producer.submit(send_report, user_id=2, connection=conn)
    locked = conn.execute(
        "SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid() "
        "AND relation = 'quart_tasks_store'::regclass"
    ).fetchone()
    conn.rollback()
    assert locked == (0,)


def test_a_database_made_again_under_a_running_producer_is_its_store_again(
    producer: Producer, conn: psycopg.Connection[tuple[object, ...]], postgres_url: str
) -> None:
    """The store's identity is read again before a connection is refused, so that a
    process need not restart after its database was dropped and its tables made again."""
    producer.submit(send_report, user_id=1, connection=conn)  # reached: identity read
    conn.rollback()
    with psycopg.connect(postgres_url, autocommit=True) as admin:  # a new identity
        admin.execute("DROP FUNCTION quart_tasks_store_id")
        admin.execute(STORE_ID)
    record = producer.submit(send_report, user_id=2, connection=conn)
    conn.commit()
    assert producer.get(record.id).id == record.id


def test_a_store_not_reached_yet_checks_nothing_and_still_replays_a_key(
    producer: Producer, conn: psycopg.Connection[tuple[object, ...]], postgres_url: str
) -> None:
    keyed = send_report.options(key="order-1")
    first = producer.submit(keyed, user_id=1, connection=conn)
    conn.commit()
    unreached = PostgresStore(postgres_url)  # never opened: its identity is not known
    record = TaskRecord.new("send_report", {"user_id": 1}).replace(idempotency_key="order-1")
    assert unreached.create_in_sync(conn, record) == producer.get(first.id)
    assert unreached.create_in_sync(conn, TaskRecord.new("send_report", {"user_id": 2})) is None
    conn.commit()


async def test_an_async_connection_is_checked_as_a_sync_one_is(
    postgres_url: str, postgres_server: str
) -> None:
    store = PostgresStore(postgres_url)
    await store.open()
    try:
        record = TaskRecord.new("send_report", {"user_id": 1})
        async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as conn:
            with pytest.raises(InvalidOptions, match=r"inside `async with conn\.transaction"):
                await store.create_in(conn, record)
        with fresh_database(postgres_server) as other:
            await make_store(other)
            async with await psycopg.AsyncConnection.connect(other) as conn:
                with pytest.raises(InvalidOptions, match="another task store"):
                    await store.create_in(conn, record)
                await conn.rollback()
        assert await store.get(record.id) is None
        async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as conn:
            await conn.execute("DROP FUNCTION quart_tasks_store_id")
            await conn.execute(STORE_ID)  # the database made again: read again, not refused
            async with conn.transaction():
                assert await store.create_in(conn, record) is None
        assert await store.get(record.id) == record
    finally:
        await store.close()


def test_a_sqlalchemy_object_is_refused_with_where_its_connection_is(
    producer: Producer, postgres_url: str
) -> None:
    sqlalchemy = pytest.importorskip("sqlalchemy")
    engine = sqlalchemy.create_engine(
        postgres_url.replace("postgresql://", "postgresql+psycopg://")
    )
    try:
        with engine.connect() as connection:
            with pytest.raises(
                InvalidOptions, match=r"connection\(\)\.connection\.driver_connection"
            ):
                producer.submit(send_report, user_id=1, connection=connection)
            raw = connection.connection.driver_connection
            producer.submit(send_report, user_id=2, connection=raw)  # what the hint says
            connection.rollback()
    finally:
        engine.dispose()


def test_eight_threads_each_in_its_own_transactions_lose_nothing(
    producer: Producer, postgres_url: str
) -> None:
    kept: list[TaskRecord] = []
    lost: list[TaskRecord] = []
    lock = threading.Lock()

    def submit_many(thread: int) -> None:
        with psycopg.connect(postgres_url) as conn:
            for n in range(10):
                record = producer.submit(send_report, user_id=thread * 100 + n, connection=conn)
                with lock:
                    (kept if n % 3 else lost).append(record)
                if n % 3:
                    conn.commit()
                else:
                    conn.rollback()

    threads = [threading.Thread(target=submit_many, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert (len(kept), len(lost)) == (48, 32)
    done = run_them(postgres_url, kept)
    assert {record.state for record in done} == {State.SUCCEEDED}
    assert sorted(ran) == sorted(record.kwargs["user_id"] for record in kept)
    for record in lost:
        with pytest.raises(TaskNotFound):
            producer.get(record.id)


async def test_the_change_feed_shows_a_committed_task_once_it_is_numbered(
    postgres_url: str,
) -> None:
    """A follower of changes hears the commit, numbers the row, and reads it."""
    watching = PostgresStore(postgres_url)
    await watching.open()
    heard = asyncio.Event()
    unwatch = watching.watch_changes(heard.set)
    try:
        start = await watching.last_seq()
        record = TaskRecord.new("send_report", {"user_id": 1})
        async with await psycopg.AsyncConnection.connect(postgres_url) as conn:
            assert await watching.create_in(conn, record) is None
            await conn.commit()
        latest = await watching.latest_change(record.id)
        assert latest is not None
        assert latest.record == record  # readable at once
        async with asyncio.timeout(WAIT):
            while not (changes := await watching.changes(start)):
                await heard.wait()
                heard.clear()
        assert [change.record.id for change in changes] == [record.id]
        assert changes[0].seq > start
        numbered = await watching.latest_change(record.id)
        assert numbered is not None
        assert numbered.seq == changes[0].seq
    finally:
        unwatch()
        await watching.close()


async def test_a_commit_nobody_heard_is_numbered_once_somebody_listens(postgres_url: str) -> None:
    record = TaskRecord.new("send_report", {"user_id": 2})
    quiet = PostgresStore(postgres_url)  # follows no changes: hears nothing
    await quiet.open()
    try:
        async with await psycopg.AsyncConnection.connect(postgres_url) as conn:
            assert await quiet.create_in(conn, record) is None
            await conn.commit()
        unnumbered = await quiet.latest_change(record.id)
        assert unnumbered is not None
        assert unnumbered.seq == 0  # readable, before every change
        assert await quiet.changes(0) == []
    finally:
        await quiet.close()
    watching = PostgresStore(postgres_url)
    await watching.open()
    heard = asyncio.Event()
    unwatch = watching.watch_changes(heard.set)  # on listening, it numbers what it missed
    try:
        async with asyncio.timeout(WAIT):
            while not (changes := await watching.changes(0)):
                await heard.wait()
                heard.clear()
        assert [change.record.id for change in changes] == [record.id]
    finally:
        unwatch()
        await watching.close()


async def test_many_commits_are_numbered_in_the_order_they_were_made(postgres_url: str) -> None:
    store = PostgresStore(postgres_url)
    await store.open()
    try:
        made = [TaskRecord.new("send_report", {"user_id": n}) for n in range(NUMBER_AT_ONCE + 50)]
        async with await psycopg.AsyncConnection.connect(postgres_url) as conn:
            for record in made:
                assert await store.create_in(conn, record) is None
            await conn.commit()
            cursor = await conn.execute("SELECT quart_tasks_number_new()")
            assert await cursor.fetchone() == (len(made),)  # in two statements of its own
            cursor = await conn.execute("SELECT quart_tasks_number_new()")
            assert await cursor.fetchone() == (0,)
            await conn.commit()
        changes = await store.changes(0, limit=len(made) + 1)
        assert [change.record.id for change in changes] == [record.id for record in made]
        assert [change.seq for change in changes] == list(range(1, len(made) + 1))
        assert await store.last_seq() == len(made)
    finally:
        await store.close()


def test_a_key_held_by_an_open_transaction_holds_no_other_write_up(
    producer: Producer, conn: psycopg.Connection[tuple[object, ...]], postgres_url: str
) -> None:
    keyed = send_report.options(key="order-9")
    pending = producer.submit(keyed, user_id=9, connection=conn)  # the transaction stays open
    with Producer(registry, database=postgres_url, timeout=WAIT) as other:
        with pytest.raises(IdempotencyKeyInUse, match="order-9"):
            other.submit(keyed, user_id=9)  # refused at once, not waiting for the commit
        unrelated = other.submit(send_report, user_id=10)  # the store's writes go on
        assert other.get(unrelated.id).state is State.QUEUED
        conn.commit()
        assert other.submit(keyed, user_id=9).id == pending.id  # now a replay
        again = producer.submit(send_report.options(key="order-10"), user_id=1, connection=conn)
        with pytest.raises(IdempotencyKeyInUse):
            other.submit(send_report.options(key="order-10"), user_id=1)
        conn.rollback()  # its key is free again
        assert other.submit(send_report.options(key="order-10"), user_id=1).id != again.id


def test_a_connection_that_returns_dicts_replays_a_key(
    producer: Producer, postgres_url: str
) -> None:
    with psycopg.connect(postgres_url, row_factory=dict_row) as conn, conn.transaction():
        first = producer.submit(send_report.options(key="k", connection=conn), user_id=1)
        again = producer.submit(send_report.options(key="k", connection=conn), user_id=1)
    assert again == first


def test_a_connection_whose_transaction_it_cannot_join_is_refused(
    producer: Producer, postgres_url: str
) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        with pytest.raises(InvalidOptions, match="no transaction open"):
            producer.submit(send_report, user_id=1, connection=conn)
        with conn.transaction():  # a transaction opened explicitly is joined
            producer.submit(send_report, user_id=2, connection=conn)
    with psycopg.connect(postgres_url) as conn:
        with pytest.raises(psycopg.errors.DivisionByZero):
            conn.execute("SELECT 1 / 0")
        with pytest.raises(InvalidOptions, match="has failed: roll it back"):
            producer.submit(send_report, user_id=3, connection=conn)
        conn.rollback()
        conn.execute("SET TRANSACTION READ ONLY")
        with pytest.raises(InvalidOptions, match="read-only"):
            producer.submit(send_report, user_id=4, connection=conn)
        conn.rollback()
    with pytest.raises(InvalidOptions, match="is closed"):
        producer.submit(send_report, user_id=5, connection=conn)
    with psycopg.connect(postgres_url) as check:
        stored = check.execute("SELECT count(*) FROM quart_tasks").fetchone()
    assert stored == (1,)  # only the one in the explicit transaction
