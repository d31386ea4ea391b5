"""Event streams from real Hypercorn servers, read with httpx."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from quart_app.jobs import registry
from tasks import Runner, TaskRecord, store_from_url
from tests import loopback
from tests.servers import Server, running_server
from tests.sse import TERMINAL, Event, aevents, check_promise

pytestmark = pytest.mark.server


@asynccontextmanager
async def open_stream(
    url: str, headers: dict[str, str] | None = None
) -> AsyncIterator[AsyncIterator[Event]]:
    """A connected stream (its first chunk, the retry field, already read)."""
    async with (
        loopback.async_client(timeout=httpx.Timeout(10.0, read=30.0)) as client,
        client.stream("GET", url, headers=headers) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = aevents(response.aiter_lines())
        first = await anext(events)
        assert first.retry is not None
        yield events


async def collect(
    events: AsyncIterator[Event],
    until: Callable[[dict[str, Any]], bool] | None = None,
    timeout: float = 15.0,
) -> list[Event]:
    """Data events until ``until`` matches, or until the server ends the stream."""
    found: list[Event] = []
    async with asyncio.timeout(timeout):
        async for event in events:
            if event.data:
                found.append(event)
                if until is not None and until(event.record):
                    break
    return found


async def post(server: Server, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    async with loopback.async_client(timeout=10.0) as client:  # a new connection each time
        response = await client.post(f"{server.url}{path}", json=body or {})
    assert response.status_code == 202, response.text
    record: dict[str, Any] = response.json()
    return record


async def delete(server: Server, path: str) -> None:
    async with loopback.async_client(timeout=10.0) as client:
        response = await client.delete(f"{server.url}{path}")
    assert response.status_code in {200, 202}, response.text


async def ids_until(events: AsyncIterator[Event], wanted: set[str]) -> set[str]:
    seen: set[str] = set()

    def all_seen(record: dict[str, Any]) -> bool:
        seen.add(record["id"])
        return wanted <= seen

    await collect(events, until=all_seen)
    return seen


def ended(task_id: str) -> Callable[[dict[str, Any]], bool]:
    def check(record: dict[str, Any]) -> bool:
        return record["id"] == task_id and record["state"] in TERMINAL

    return check


async def test_a_stream_follows_each_task_forward_to_its_end(
    tmp_path: Path, database_url: str
) -> None:
    """Each task's events go forward and end with its terminal state, sent once.

    Which intermediate states and progress steps arrive depends on when the stream reads (a
    write overwritten before a read is skipped), so the test asserts the order and the end,
    and that a state which lasts (a long task running, reporting progress) does arrive.
    """
    with running_server(tmp_path, {"QUART_TASKS_DATABASE": database_url}) as server:
        async with open_stream(f"{server.url}/events") as events:
            counts = [await post(server, "/tasks/count", {"n": 3, "interval": 0.05})]
            counts += [await post(server, "/tasks/count", {"n": 3, "interval": 0})]
            failed = await post(server, "/tasks/fail")
            long = await post(server, "/tasks/sleep", {"seconds": 60})
            found = await collect(events, until=lambda r: r["id"] == long["id"] and progressed(r))
            await delete(server, f"/tasks/{long['id']}")
            found += await collect(events, until=ended(long["id"]))
            # A task submitted last: every event of the others that could repeat comes first.
            last = await post(server, "/tasks/noop")
            found += await collect(events, until=ended(last["id"]))
    tasks = check_promise(found)
    for record in counts:
        final = tasks[record["id"]][-1]
        assert (final["state"], final["result"]) == ("succeeded", 3)
        assert final["progress"] == {"current": 3, "total": 3, "message": None}
    assert tasks[failed["id"]][-1]["state"] == "failed"
    assert tasks[long["id"]][-1]["state"] == "cancelled"
    assert tasks[last["id"]][-1]["state"] == "succeeded"


def progressed(record: dict[str, Any]) -> bool:
    return record["state"] == "running" and record["progress"] is not None


async def test_task_stream_ends_after_the_terminal_state(tmp_path: Path) -> None:
    with running_server(tmp_path) as server:
        record = await post(server, "/tasks/count", {"n": 5, "interval": 0.05})
        async with open_stream(f"{server.url}/tasks/{record['id']}/events") as events:
            found = await collect(events)  # returns only when the server ends the response
    assert found[-1].record["state"] == "succeeded"
    assert found[-1].record["result"] == 5
    assert {event.record["id"] for event in found} == {record["id"]}


async def test_a_reconnect_with_last_event_id_gets_the_missed_changes(
    tmp_path: Path, database_url: str
) -> None:
    with running_server(tmp_path, {"QUART_TASKS_DATABASE": database_url}) as server:
        async with open_stream(f"{server.url}/events") as events:
            record = await post(server, "/tasks/count", {"n": 10, "interval": 0.1})
            seen = await collect(events, until=lambda r: r["id"] == record["id"])
        last_id = seen[-1].id
        assert last_id is not None
        # Disconnected; wait (on its own stream) for the task to finish meanwhile.
        async with open_stream(f"{server.url}/tasks/{record['id']}/events") as task_events:
            final = (await collect(task_events))[-1]
        assert final.record["state"] == "succeeded"

        async with open_stream(f"{server.url}/events", {"Last-Event-ID": last_id}) as events:
            (missed,) = await collect(events, until=lambda r: r["id"] == record["id"])
        assert missed.record == final.record
        assert missed.seq > int(last_id)

        async with loopback.async_client() as client:
            over = await client.get(
                f"{server.url}/tasks/{record['id']}/events",
                headers={"Last-Event-ID": str(missed.seq)},
            )
        assert over.status_code == 204


async def test_two_workers_deliver_changes_made_by_any_process(
    tmp_path: Path, database_url: str
) -> None:
    """Streams see writes made through either worker, and writes from outside both.

    A connection's worker cannot be chosen (both accept on one SO_REUSEPORT socket), so
    several streams and several submissions spread over both workers. The write made by
    this test process itself is the deterministic part: it reaches every stream only
    through the store, which is exactly the cross-process path.
    """
    env = {"QUART_TASKS_DATABASE": database_url}
    with running_server(tmp_path, env, workers=2) as server:
        async with AsyncExitStack() as stack:
            streams = [
                await stack.enter_async_context(open_stream(f"{server.url}/events"))
                for _ in range(4)
            ]
            store = store_from_url(database_url)
            await store.open()
            try:
                outside = await Runner(registry, store).submit("noop", enqueue=False)
            finally:
                await store.close()
            submitted = [await post(server, "/tasks/fail", {"message": str(n)}) for n in range(4)]
            wanted = {outside.id} | {record["id"] for record in submitted}
            for events in streams:
                assert await ids_until(events, wanted) >= wanted


#: longer than the test can take: a stream that read the store only on its own clock would
#: send nothing in time (BENCHMARKS.md measures how fast the notification comes)
QUIET = 600


async def test_a_change_from_another_process_reaches_the_stream_fast_on_postgres(
    tmp_path: Path, postgres_url: str
) -> None:
    """LISTEN/NOTIFY: no poll interval between a commit elsewhere and the event. Nothing
    else here wakes the stream: no keep-alive, no poll, and no runner of this task's name
    writes it."""
    env = {
        "QUART_TASKS_DATABASE": postgres_url,
        "QUART_EVENTS_POLL_INTERVAL": str(QUIET),
        "QUART_EVENTS_KEEPALIVE_INTERVAL": str(QUIET),
    }
    with running_server(tmp_path, env) as server:
        store = store_from_url(postgres_url)
        await store.open()
        try:
            async with open_stream(f"{server.url}/events") as events:
                for _ in range(5):
                    record = TaskRecord.new("run_by_nobody_here", {})
                    await store.create(record, owner=None, lease=30)
                    found = await collect(events, until=lambda r, i=record.id: r["id"] == i)
                    assert found[-1].record["state"] == "queued"
        finally:
            await store.close()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads CPU time from /proc")
async def test_idle_streams_do_not_spin_the_cpu(tmp_path: Path) -> None:
    with running_server(tmp_path) as server:
        assert server.process is not None
        async with AsyncExitStack() as stack:
            for _ in range(5):
                await stack.enter_async_context(open_stream(f"{server.url}/events"))
            before, started = cpu_seconds(server.process.pid), time.monotonic()
            await asyncio.sleep(1.5)  # a measurement window, not a wait for a condition
            used = cpu_seconds(server.process.pid) - before
            elapsed = time.monotonic() - started
    assert used / elapsed < 0.1, f"{used:.3f} s of CPU in {elapsed:.2f} s with 5 idle streams"


async def test_streams_end_cleanly_as_soon_as_shutdown_begins(tmp_path: Path) -> None:
    # Hypercorn waits up to graceful_timeout (5 s in hypercorn.toml, a minute here, so that
    # a slow machine cannot be mistaken for it) for open connections before the app hears
    # of the shutdown; the streams must not make it wait that long.
    graceful = 60
    extra = ("--graceful-timeout", str(graceful))
    with running_server(tmp_path, extra_args=extra) as server:
        async with AsyncExitStack() as stack:
            streams = [
                await stack.enter_async_context(open_stream(f"{server.url}/events"))
                for _ in range(3)
            ]
            started = time.monotonic()
            server.signal(signal.SIGTERM)
            for events in streams:
                assert await collect(events, timeout=10) == []  # ends without an error
            assert await asyncio.to_thread(server.wait, 10) == 0
        assert time.monotonic() - started < graceful / 2
