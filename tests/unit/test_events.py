"""The event-stream endpoints, through Quart's test client (no server process)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from quart import Quart
from quart import typing as quart_typing

from tests.conftest import AppFactory
from tests.sse import TERMINAL, Event, Parser, check_promise

FAST = {"TASKS_PROGRESS_INTERVAL": 0, "EVENTS_POLL_INTERVAL": 0.05}


class Stream:
    """An open response of the test client, read as server-sent events."""

    def __init__(self, connection: quart_typing.TestHTTPConnectionProtocol) -> None:
        self.connection = connection
        self.ended = False
        self._parser = Parser()
        self._buffer = ""
        self._ready: list[Event] = []

    async def next(self, timeout: float = 5.0) -> Event | None:
        """The next event or comment; None once the server has ended the response."""
        async with asyncio.timeout(timeout):
            while not self._ready:
                if self.ended:
                    return None
                chunk = await self.connection.receive()
                if chunk == b"":
                    self.ended = True
                    continue
                self._buffer += chunk.decode()
                *lines, self._buffer = self._buffer.split("\n")
                for line in lines:
                    if (event := self._parser.feed(line)) is not None:
                        self._ready.append(event)
        return self._ready.pop(0)

    async def records(self, until: Callable[[dict[str, Any]], bool] | None = None) -> list[Event]:
        """Data events up to the end of the response, or up to the first matching ``until``."""
        found = []
        while (event := await self.next()) is not None:
            if event.data:
                found.append(event)
                if until is not None and until(event.record):
                    break
        return found


@asynccontextmanager
async def stream(
    client: quart_typing.TestClientProtocol, path: str, headers: dict[str, str] | None = None
) -> AsyncIterator[Stream]:
    async with client.request(path, headers=headers) as connection:
        await connection.send_complete()
        opened = Stream(connection)
        try:
            yield opened
        finally:
            if not opened.ended:
                await connection.disconnect()


@pytest.fixture
async def served(make_app: AppFactory) -> AsyncIterator[Quart]:
    app = make_app(**FAST)
    async with app.test_app():
        yield app


async def submit(
    client: quart_typing.TestClientProtocol, name: str, **kwargs: Any
) -> dict[str, Any]:
    response = await client.post(f"/tasks/{name}", json=kwargs)
    assert response.status_code == 202, await response.get_data(as_text=True)
    record: dict[str, Any] = await response.get_json()
    return record


def terminal(record: dict[str, Any]) -> bool:
    return record["state"] in TERMINAL


async def test_task_stream_follows_the_task_and_ends_after_its_terminal_state(
    served: Quart,
) -> None:
    client = served.test_client()
    record = await submit(client, "count", n=5, interval=0.02)
    async with stream(client, f"/tasks/{record['id']}/events") as events:
        found = await events.records()
        assert events.ended
    headers = events.connection.headers  # type: ignore[attr-defined]
    assert headers is not None
    assert headers["Content-Type"].startswith("text/event-stream")
    assert headers["Cache-Control"] == "no-cache"
    assert list(check_promise(found)) == [record["id"]]
    assert found[-1].record["state"] == "succeeded"
    assert found[-1].record["progress"] == {"current": 5, "total": 5, "message": None}


async def test_stream_of_a_finished_task_is_its_record_then_the_end(served: Quart) -> None:
    client = served.test_client()
    record = await submit(client, "fail", message="boom")
    await served.extensions["tasks"].runner.join()
    async with stream(client, f"/tasks/{record['id']}/events") as events:
        first = await events.next()
        assert first is not None
        assert first.retry == 1000
        found = await events.records()
    assert [event.record["state"] for event in found] == ["failed"]
    assert found[0].record["error"]["type"] == "RuntimeError"
    assert found[0].record["error"]["message"] == "boom"


async def test_resuming_a_task_stream_sends_what_was_missed(served: Quart) -> None:
    client = served.test_client()
    gate_id = (await submit(client, "sleep", seconds=30))["id"]
    async with stream(client, f"/tasks/{gate_id}/events") as events:
        first = (await events.records(until=lambda record: record["state"] == "running"))[-1]
    # Disconnected: the task is cancelled meanwhile, then the client comes back.
    await client.delete(f"/tasks/{gate_id}")
    headers = {"Last-Event-ID": first.id or ""}
    async with stream(client, f"/tasks/{gate_id}/events", headers) as events:
        missed = await events.records()
    assert missed[-1].record["state"] == "cancelled"
    assert all(event.seq > first.seq for event in missed)
    # Back again after the end: 204 tells EventSource not to reconnect.
    done = await client.get(
        f"/tasks/{gate_id}/events", headers={"Last-Event-ID": str(missed[-1].seq)}
    )
    assert done.status_code == 204


async def test_all_events_resume_from_last_event_id(served: Quart) -> None:
    client = served.test_client()
    first = await submit(client, "noop")
    second = await submit(client, "fail")
    await served.extensions["tasks"].runner.join()
    async with stream(client, "/events", {"Last-Event-ID": "0"}) as events:
        found = await events.records(until=lambda record: record["id"] == second["id"])
    assert [event.record["id"] for event in found] == [first["id"], second["id"]]
    assert [event.record["state"] for event in found] == ["succeeded", "failed"]
    async with stream(client, f"/events?after={found[0].seq}") as events:
        (only,) = await events.records(until=lambda record: True)
    assert only.record["id"] == second["id"]


async def test_all_events_start_from_now_and_follow_new_tasks(served: Quart) -> None:
    client = served.test_client()
    old = await submit(client, "noop")
    await served.extensions["tasks"].runner.join()
    async with stream(client, "/events") as events:
        assert (await events.next()) is not None  # the retry field: the stream is open
        new = [await submit(client, "count", n=2, interval=0) for _ in range(3)]
        new.append(await submit(client, "fail"))
        last = await submit(client, "noop")  # each earlier task's events come before its end
        found = await events.records(
            until=lambda record: record["id"] == last["id"] and terminal(record)
        )
    tasks = check_promise(found)
    assert old["id"] not in tasks
    assert set(tasks) == {record["id"] for record in [*new, last]}
    assert [tasks[record["id"]][-1]["state"] for record in new] == ["succeeded"] * 3 + ["failed"]
    assert all(tasks[record["id"]][-1]["result"] == 2 for record in new[:3])


async def test_a_task_that_ends_as_its_stream_opens_ends_it_once(served: Quart) -> None:
    """The end written between the stream's start point and its read of the record comes
    with its own id: a client that reconnects with that id (as EventSource does when the
    response ends) is told the stream is over instead of getting the end again."""
    runner = served.extensions["tasks"].runner
    waiting = await runner.submit("sleep", {"seconds": 30}, enqueue=False)  # nobody runs it
    feed = served.extensions["task_events"].feed
    position = feed.position

    async def position_then_cancel(after: int | None = None) -> int:
        start = await position(after)
        if not cancelled:
            cancelled.append(await runner.cancel(waiting.id))  # just after the start point
        return start

    cancelled: list[object] = []

    feed.position = position_then_cancel
    client = served.test_client()
    async with stream(client, f"/tasks/{waiting.id}/events") as events:
        (end,) = await events.records()
    assert end.record["state"] == "cancelled"
    assert end.seq == await served.extensions["tasks"].runner.store.last_seq()
    again = await client.get(f"/tasks/{waiting.id}/events", headers={"Last-Event-ID": end.id})
    assert again.status_code == 204


async def test_idle_streams_send_keepalive_comments(make_app: AppFactory) -> None:
    app = make_app(EVENTS_KEEPALIVE_INTERVAL=0.05)
    async with app.test_app() as test_app, stream(test_app.test_client(), "/events") as events:
        comments: list[str] = []
        while len(comments) < 2:
            event = await events.next()
            assert event is not None
            if event.comment is not None:
                comments.append(event.comment)
    assert comments == ["keep-alive", "keep-alive"]


async def test_a_disconnected_client_stops_being_followed(served: Quart) -> None:
    feed = served.extensions["task_events"].feed
    async with stream(served.test_client(), "/events") as events:
        await events.next()
        assert feed.followers == 1
    async with asyncio.timeout(5):
        while feed.followers:  # the cancelled response unwinds on the next loop turns
            await asyncio.sleep(0.01)


async def test_shutdown_ends_open_streams(make_app: AppFactory) -> None:
    app = make_app(**FAST)
    test_app = app.test_app()
    await test_app.startup()
    try:
        client = test_app.test_client()
        async with stream(client, "/events") as events:
            await events.next()
            shutting_down = asyncio.ensure_future(test_app.shutdown())
            assert await events.records() == []
            assert events.ended
            await shutting_down
    finally:
        if not app.shutdown_event.is_set():
            await test_app.shutdown()


@pytest.mark.parametrize(
    ("path", "headers", "status", "message"),
    [
        ("/tasks/nope/events", {}, 404, "no task has the id 'nope'"),
        ("/events", {"Last-Event-ID": "abc"}, 400, "Last-Event-ID must be an event id"),
        ("/events", {"Last-Event-ID": "-3"}, 400, "Last-Event-ID must be an event id"),
        ("/events?after=1.5", {}, 400, "after must be an event id"),
    ],
)
async def test_bad_stream_requests_get_json_errors(
    served: Quart, path: str, headers: dict[str, str], status: int, message: str
) -> None:
    response = await served.test_client().get(path, headers=headers)
    assert response.status_code == status
    body = await response.get_json()
    assert message in body["error"]["message"]


@pytest.mark.parametrize("key", ["EVENTS_POLL_INTERVAL", "EVENTS_KEEPALIVE_INTERVAL"])
@pytest.mark.parametrize("value", [0, -1, "soon", True])
def test_bad_stream_settings_stop_the_app_when_built(
    make_app: AppFactory, key: str, value: object
) -> None:
    with pytest.raises(ValueError, match=f"{key} must be a number of seconds above 0"):
        make_app(**{key: value})
