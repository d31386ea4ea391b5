"""What is accepted can be read back: one JSON encoding for bodies and stores, and a row that
cannot be read is shown as damaged instead of stopping listings, streams, upkeep or startup."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from tasks import Registry, State, Store, TaskRecord, codec, store_from_url
from tasks.store import is_damaged
from tests.conftest import AppFactory, RegistryAppFactory
from tests.harness import serving

OWNER = "host:1:aaaa"
LONE = "\ud800"


def test_loads_keeps_long_integers_exact() -> None:
    text = '{"big": 123456789012345678901234567890, "edge": 9007199254740993}'
    assert codec.loads(text) == {"big": 123456789012345678901234567890, "edge": 9007199254740993}
    assert codec.loads(codec.dumps({"big": 2**70})) == {"big": 2**70}


@pytest.mark.parametrize("text", ["NaN", '{"a": Infinity}', "1" + "0" * 5000])
def test_loads_refuses_numbers_json_cannot_hold(text: str) -> None:
    with pytest.raises(ValueError, match=r"not a number|too long"):
        codec.loads(text)


def test_numbers_out_of_range_are_found() -> None:
    assert (
        codec.problem(codec.loads('{"n": [1, -1e999]}')) == "'n'[1] is -inf, which JSON cannot hold"
    )


def test_lone_surrogates_are_found_and_never_stored() -> None:
    value = codec.loads('{"message": "\\ud800"}')
    assert value == {"message": LONE}
    assert codec.problem(value) == (
        "'message' holds a lone surrogate (U+D800), which is not valid Unicode; "
        "send valid UTF-8 text"
    )
    assert codec.problem({"a": [1, {"b": float("inf")}]}) is not None
    assert codec.loads_stored(codec.dumps({"text": f"a{LONE}b"})) == {"text": "a\ufffdb"}
    assert codec.loads_stored('{"text": "a\\ud800b"}') == {"text": "a\ufffdb"}


async def test_a_lone_surrogate_in_a_body_is_refused_and_nothing_is_stored(
    make_app: AppFactory,
) -> None:
    async with serving(make_app()) as api:
        response = await api.client.post(
            "/tasks/fail",
            data='{"message": "\\ud800"}',
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 422
        error = (await response.get_json())["error"]
        assert "'message' holds a lone surrogate" in error["message"]
        listed = await api.client.get("/tasks")
        assert (await listed.get_json())["tasks"] == []


async def test_a_number_out_of_range_in_untyped_arguments_is_refused(
    make_registry_app: RegistryAppFactory,
) -> None:
    registry = Registry()

    @registry.task()
    async def echo(data: Any) -> Any:
        return data

    async with serving(make_registry_app(registry)) as api:
        response = await api.client.post(
            "/tasks/echo", data='{"data": 1e999}', headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 422
        assert "'data' is inf" in (await response.get_json())["error"]["message"]


async def test_untyped_arguments_keep_long_integers(make_registry_app: RegistryAppFactory) -> None:
    registry = Registry()

    @registry.task()
    async def echo(data: Any) -> Any:
        return data

    big = 2**64 + 1
    async with serving(make_registry_app(registry)) as api:
        response = await api.client.post(
            "/tasks/echo",
            data=f'{{"data": [{big}, 9007199254740993]}}',
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 202
        task_id = (await response.get_json())["id"]
        await api.wait_for(task_id, timeout=10)
        got = await api.client.get(f"/tasks/{task_id}")
        text = await got.get_data(as_text=True)
        assert codec.loads(text)["result"] == [big, 9007199254740993]


def poison_sqlite(path: str, task_id: str, data: str) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE tasks SET data = ? WHERE id = ?", (data, task_id))


def poison_postgres(url: str, task_id: str, data: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE quart_tasks SET data = %s WHERE id = %s", (data, task_id))


def poison(url: str, task_id: str, data: str) -> None:
    if url.startswith("postgresql://"):
        poison_postgres(url, task_id, data)
    else:
        poison_sqlite(url, task_id, data)


def old_fallback_json(record: TaskRecord) -> str:
    """A row as an earlier version wrote a lone surrogate: the standard library's escape."""
    data = record.to_dict()
    del data["owner"], data["cancel_requested"]
    return json.dumps(data, separators=(",", ":"))


async def open_store(url: str) -> Store:
    store = store_from_url(url)
    await store.open()
    return store


async def test_a_row_with_a_lone_surrogate_reads_back_with_a_replacement(
    database_url: str,
) -> None:
    store = await open_store(database_url)
    try:
        record = TaskRecord.new("fail", {"message": "x"})
        await store.create(record, owner=None, lease=30)
        finished = record.started().finished(State.FAILED).replace(result=f"bad {LONE}")
        poison(database_url, record.id, old_fallback_json(finished))
        got = await store.get(record.id)
        assert got is not None
        assert got.result == "bad \ufffd"
        assert [r.id for r in await store.query()] == [record.id]
        assert [c.record.result for c in await store.changes(0)] == ["bad \ufffd"]
    finally:
        await store.close()


async def test_an_unreadable_row_is_shown_damaged_and_stops_nothing(
    database_url: str, make_app: AppFactory
) -> None:
    store = await open_store(database_url)
    queued = TaskRecord.new("count", {"n": 1})
    done = TaskRecord.new("count", {"n": 1})
    later = TaskRecord.new("count", {"n": 1}).replace(
        state=State.SCHEDULED, run_at=datetime.now(UTC) - timedelta(seconds=1)
    )
    try:
        for record in (queued, later):
            await store.create(record, owner=None, lease=30)
        await store.create(done, owner=OWNER, lease=30)
        assert await store.update(done.started().finished(State.SUCCEEDED), owner=OWNER)
        await store.create(TaskRecord.new("noop", {}), owner=None, lease=30)  # the newest
    finally:
        await store.close()
    for record in (queued, done, later):
        poison(database_url, record.id, '{"id": "broken')

    app = make_app(TASKS_DATABASE=database_url, TASKS_RETENTION=0)
    async with serving(app) as api:  # starts: claims and upkeep read the damaged rows
        for record in (queued, later):
            ended = await api.runner.wait(record.id, poll_interval=0.05)
            assert ended.state is State.FAILED
            assert ended.error is not None
            assert ended.error.type == "damaged_record"
        listed = await api.client.get("/tasks")
        assert listed.status_code == 200
        shown = {task["id"]: task for task in (await listed.get_json())["tasks"]}
        assert shown[done.id]["error"]["type"] == "damaged_record"
        assert shown[done.id]["state"] == "succeeded"
        page = await api.client.get("/")
        assert page.status_code == 200
        stream = await api.client.get("/tasks/" + done.id)
        assert stream.status_code == 200
        pruned = await api.runner.store.prune(datetime.now(UTC))
        assert done.id in {record.id for record in pruned}
        assert all(is_damaged(r) for r in pruned if r.id in {queued.id, later.id, done.id})
