"""Searching records (``RecordReader.query``'s ``text``, ``id_prefix``, ``since`` and
``until``), the same on every store: text in the arguments as stored or in the error
message, ignoring case and taking ``%``, ``_`` and ``\\`` as plain characters; ids by their
exact beginning; creation times from ``since`` up to ``until``; with the other filters, the
order and the pages as before; a damaged row stops none of it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from tasks import State, Store, TaskRecord, store_from_url
from tasks.records import ErrorInfo
from tasks.store import is_damaged
from tests.contract.test_stored_json import poison

T0 = datetime(2026, 12, 5, 14, 0, tzinfo=UTC)
US = timedelta(microseconds=1)


def task(name: str = "send", /, **kwargs: object) -> TaskRecord:
    return TaskRecord.new(name, dict(kwargs))


def failed(message: str, *, traceback: str | None = None) -> TaskRecord:
    return task("fail").replace(
        state=State.FAILED,
        error=ErrorInfo("RuntimeError", message, traceback),
        finished_at=T0,
    )


async def add(store: Store, *records: TaskRecord) -> list[str]:
    """Store ``records`` in this order (oldest first); their ids, newest first, as listed."""
    for record in records:
        assert await store.create(record, owner=None, lease=30) is None
    return [record.id for record in reversed(records)]


async def ids(store: Store, **filters: Any) -> list[str]:
    return [record.id for record in await store.query(**filters)]


async def test_text_is_found_in_the_arguments_ignoring_case(store: Store) -> None:
    alice = task(email="Alice@Example.COM")
    await add(store, alice, task(email="bob@example.com"), task(note="ALICE"))
    assert await ids(store, text="alice@example.com") == [alice.id]
    assert await ids(store, text="ALICE@") == [alice.id]


async def test_text_is_found_in_the_arguments_as_stored_json(store: Store) -> None:
    """Keys, quotes and punctuation too, as the codec writes them (no spaces)."""
    counted = task(n=4242, tags=["a", "b"])
    await add(store, counted, task(n=42))
    assert await ids(store, text='"n":4242') == [counted.id]
    assert await ids(store, text='["a","b"]') == [counted.id]
    assert await ids(store, text='"TAGS"') == [counted.id]
    assert await ids(store, text='"n": 4242') == []


async def test_text_is_found_in_the_error_message_ignoring_case(store: Store) -> None:
    full = failed("Disk FULL on /dev/sda: no space left")
    quoted = failed('cannot read "C:\\data"')
    await add(store, full, quoted, failed("timeout"))
    assert await ids(store, text="disk full on /DEV/sda") == [full.id]
    assert await ids(store, text='read "c:\\data"') == [quoted.id]


async def test_text_is_not_looked_for_elsewhere(store: Store) -> None:
    """Not in the error's type or traceback, the result, the name or the id."""
    record = failed("boom", traceback="File 'needle.py', line 1").replace(result="needle")
    await add(store, record, task("needle"))
    for text in ("needle", "RuntimeError", record.id):
        assert await ids(store, text=text) == []


async def test_percent_underscore_and_backslash_in_text_are_plain_characters(
    store: Store,
) -> None:
    percent = task(progress="100%_done")
    other = task(progress="100xxdone")
    backslash = failed("no file C:\\tmp\\x_y")
    await add(store, percent, other, backslash, failed("no file C:/tmp/xzy"))
    assert await ids(store, text="100%_") == [percent.id]
    assert await ids(store, text="%") == [percent.id]
    assert await ids(store, text="_") == [backslash.id, percent.id]
    assert await ids(store, text="c:\\tmp\\x_y") == [backslash.id]
    assert await ids(store, text="\\") == [backslash.id]


async def test_text_no_stored_record_can_hold_matches_nothing(store: Store) -> None:
    await add(store, task(text="a\x00b"), failed("a\x00b"))
    for text in ("\x00", "a\ud800"):
        assert await ids(store, text=text) == []
        assert await ids(store, id_prefix=text) == []


async def test_an_empty_text_or_prefix_keeps_every_record(store: Store) -> None:
    listed = await add(store, task(), failed("x"))
    assert await ids(store, text="", id_prefix="") == listed


async def test_ids_are_found_by_their_exact_beginning(store: Store) -> None:
    made = {
        key: task().replace(id=key)
        for key in ("ab", "abc123", "abd456", "xabc", "ab%c", "a_c", "ac", "ab\U0010ffff")
    }
    await add(store, *made.values())
    assert await ids(store, id_prefix="ab") == [
        made[key].id for key in ("ab\U0010ffff", "ab%c", "abd456", "abc123", "ab")
    ]
    assert await ids(store, id_prefix="abc") == [made["abc123"].id]
    assert await ids(store, id_prefix="abc123") == [made["abc123"].id]
    assert await ids(store, id_prefix="abc1234") == []
    assert await ids(store, id_prefix="ABC") == []  # case counts
    assert await ids(store, id_prefix="a%") == []
    assert await ids(store, id_prefix="a_") == [made["a_c"].id]
    assert await ids(store, id_prefix="ab\U0010ffff") == [made["ab\U0010ffff"].id]


async def test_ids_are_found_by_the_beginning_of_real_ones(store: Store) -> None:
    records = [task() for _ in range(20)]
    await add(store, *records)
    for record in records:
        expected = [r.id for r in reversed(records) if r.id.startswith(record.id[:3])]
        assert await ids(store, id_prefix=record.id[:3]) == expected


async def test_since_and_until_keep_records_created_from_since_up_to_until(store: Store) -> None:
    moments = [T0 - US, T0, T0 + US, T0 + timedelta(hours=1) - US, T0 + timedelta(hours=1)]
    made = [task().replace(created_at=moment) for moment in moments]
    await add(store, *made)
    until = T0 + timedelta(hours=1)
    assert await ids(store, since=T0, until=until) == [r.id for r in reversed(made[1:4])]
    assert await ids(store, since=T0) == [r.id for r in reversed(made[1:])]
    assert await ids(store, until=T0) == [made[0].id]
    assert await ids(store, since=until, until=T0) == []
    east = timezone(timedelta(hours=2))
    assert await ids(store, since=T0.astimezone(east), until=until.astimezone(east)) == [
        r.id for r in reversed(made[1:4])
    ]
    naive = T0.replace(tzinfo=None)  # taken as UTC
    assert await ids(store, since=naive, until=until.replace(tzinfo=None)) == [
        r.id for r in reversed(made[1:4])
    ]


async def test_the_filters_combine_with_state_name_and_pages(store: Store) -> None:
    """Newest first, in pages by ``before``, as without them."""
    hits = [
        task(user="zoe", n=n).replace(created_at=T0 + n * US)
        for n in range(5)  # the matches
    ]
    noise = [
        task(user="bob").replace(created_at=T0 + US),
        task("other", user="zoe").replace(created_at=T0 + US),
        task(user="zoe").replace(created_at=T0 - US),
        task(user="zoe").replace(state=State.SCHEDULED, created_at=T0 + US),
    ]
    await add(store, hits[0], *noise, *hits[1:])
    expected = [record.id for record in reversed(hits)]
    filters = {"state": State.QUEUED, "name": "send", "text": "ZOE", "since": T0}
    first = await ids(store, **filters, limit=2)
    assert first == expected[:2]
    second = await ids(store, **filters, limit=2, before=first[-1])
    assert second == expected[2:4]
    third = await ids(store, **filters, limit=2, before=second[-1])
    assert third == expected[4:]
    assert await ids(store, **filters, before=third[-1]) == []
    assert await ids(store, **filters, before="no-such-task") == []
    prefix = hits[2].id[:6]
    assert await ids(store, **filters, id_prefix=prefix) == [hits[2].id]


@pytest.mark.parametrize(
    "damage",
    ['{"id": "broken', "[" * 100_000, '{"kwargs": "\\ud800", "error": {"message": "\\u0000"}}'],
)
async def test_a_damaged_row_stops_no_search(database_url: str, damage: str) -> None:
    store = store_from_url(database_url)
    await store.open()
    try:
        damaged, kept = task(user="zoe"), task(user="zoe")
        await add(store, damaged.replace(created_at=T0), kept.replace(created_at=T0))
        poison(database_url, damaged.id, damage)
        listed = await store.query()
        assert [record.id for record in listed] == [kept.id, damaged.id]
        assert is_damaged(listed[1])
        assert await ids(store, text="zoe") == [kept.id]
        assert await ids(store, text='"user":"zoe"') == [kept.id]
        assert await ids(store, since=T0, until=T0 + US) == [kept.id]
        assert await ids(store, id_prefix=damaged.id) == [damaged.id]  # a column, not JSON
        assert await ids(store, state=State.QUEUED, text="ZOE", since=T0) == [kept.id]
    finally:
        await store.close()
