"""What bounds an event stream's cost: HEAD ends at once, a process serves a capped number
of streams, and a task's stream reads that task's record, not the store's change log."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from quart import Quart

from tasks import MemoryStore, Registry
from tasks.store import Change
from tests.conftest import AppFactory, RegistryAppFactory
from tests.harness import WAIT
from tests.unit.test_events import FAST, stream, submit


async def test_head_of_a_stream_answers_its_headers_and_ends(make_app: AppFactory) -> None:
    app = make_app(**FAST)
    async with app.test_app() as test_app:
        client = test_app.test_client()
        running = await submit(client, "sleep", seconds=30)
        for path in ("/events", f"/tasks/{running['id']}/events"):
            async with asyncio.timeout(WAIT):
                response = await client.head(path)
            assert response.status_code == 200, path
            assert response.headers["Content-Type"].startswith("text/event-stream")
            assert await response.get_data() == b""
        assert app.extensions["task_events"].open == 0
        await client.delete(f"/tasks/{running['id']}")


async def wait_for_no_open_streams(app: Quart) -> None:
    async with asyncio.timeout(WAIT):
        while app.extensions["task_events"].open:  # a cancelled response unwinds in a turn
            await asyncio.sleep(0.01)


async def test_past_max_streams_a_new_stream_is_refused_with_retry_after(
    make_app: AppFactory,
) -> None:
    app = make_app(**FAST, TASKS_MAX_STREAMS=1)
    async with app.test_app() as test_app:
        client = test_app.test_client()
        done = await submit(client, "noop")
        await app.extensions["tasks"].runner.join()
        for _ in range(2):  # a stream that ends gives its place back
            async with stream(client, f"/tasks/{done['id']}/events") as events:
                assert [event.record["id"] for event in await events.records()] == [done["id"]]
        async with stream(client, "/events") as held:
            assert await held.next() is not None  # open
            for method, path in [("GET", "/events"), ("GET", f"/tasks/{done['id']}/events"),
                                 ("HEAD", "/events")]:  # fmt: skip
                async with asyncio.timeout(WAIT):
                    refused = await client.open(path, method=method)
                assert refused.status_code == 503, (method, path)
                assert refused.headers["Retry-After"] == "5"
            body = await (await client.get("/events")).get_json()
            assert body["error"]["code"] == "too_many_streams"
            assert "TASKS_MAX_STREAMS" in body["error"]["message"]
        await wait_for_no_open_streams(app)
        async with stream(client, "/events") as again:
            assert await again.next() is not None


@pytest.mark.parametrize("value", [0, -1, "many"])
def test_a_bad_max_streams_stops_the_app_when_built(make_app: AppFactory, value: Any) -> None:
    with pytest.raises(ValueError, match="TASKS_MAX_STREAMS"):
        make_app(TASKS_MAX_STREAMS=value)


class ReadsCounted(MemoryStore):
    """A memory store that notes where each read of its change log starts."""

    def __init__(self) -> None:
        super().__init__()
        self.reads_after: list[int] = []

    async def changes(self, after: int, limit: int = 100) -> list[Change]:
        self.reads_after.append(after)
        return await super().changes(after, limit)


async def test_a_resumed_task_stream_reads_no_change_log_from_its_event_id(
    make_registry_app: RegistryAppFactory,
) -> None:
    registry = Registry()
    gate = asyncio.Event()

    @registry.task()
    async def noop() -> None:
        pass

    @registry.task()
    async def held() -> None:
        await gate.wait()

    store = ReadsCounted()
    app = make_registry_app(registry, store=store, **FAST)
    async with app.test_app() as test_app:
        try:
            await resume_task_streams(app, test_app.test_client(), store)
        finally:
            gate.set()


async def resume_task_streams(app: Quart, client: Any, store: ReadsCounted) -> None:
    done = await submit(client, "noop")
    for _ in range(250):  # more changes than one read of the log returns
        await submit(client, "noop")
    waiting = await submit(client, "held")
    await app.extensions["tasks"].runner.wait(done["id"])
    latest = await store.last_seq()
    store.reads_after.clear()

    headers = {"Last-Event-ID": "0"}
    async with stream(client, f"/tasks/{done['id']}/events", headers) as events:
        (finished,) = await events.records()
    assert finished.record["state"] == "succeeded"
    async with stream(client, f"/tasks/{waiting['id']}/events", headers) as events:
        first = await events.next()
        assert first is not None
        assert first.retry is not None
        (now,) = await events.records(until=lambda record: True)
        assert now.record["id"] == waiting["id"]
    assert all(after >= latest for after in store.reads_after), store.reads_after[:5]

    current = await store.latest_change(done["id"])
    assert current is not None
    assert finished.seq == current.seq  # the id of the write the record is from
    again = await client.get(
        f"/tasks/{done['id']}/events", headers={"Last-Event-ID": str(finished.seq)}
    )
    assert again.status_code == 204
