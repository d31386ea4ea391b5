"""The extension's services: started in order, stopped in reverse, whatever the app's setup."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import uvloop
from quart import Quart

from tasks import MemoryStore, Registry, Tasks
from tasks.app.lifecycle import add_http_service
from tasks.web import blueprint
from tests.conftest import AppFactory
from tests.unit.test_events import stream

STANDALONE = [
    "store",
    "thread pool",
    "metrics",
    "runner",
    "sweepers",  # the example app's: it keeps every record with TASKS_RETENTION = 0
    "delay alarm",
    "event feed",
    "shutdown watch",
]


def lifecycle_log(caplog: pytest.LogCaptureFixture, verb: str) -> list[str]:
    """The services named in the ``tasks`` log's ``<verb> <service>`` lines, in order."""
    prefix = f"{verb} "
    return [
        record.getMessage().removeprefix(prefix)
        for record in caplog.records
        if record.name == "tasks" and record.getMessage().startswith(prefix)
    ]


async def test_services_stop_in_the_reverse_order_of_their_start(
    make_app: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(TASKS_RETENTION=0)
    tasks: Tasks = app.extensions["tasks"]
    with caplog.at_level(logging.DEBUG, logger="tasks"):
        async with app.test_app():
            assert list(tasks.services) == STANDALONE
        assert tasks.services == ()
    assert lifecycle_log(caplog, "started") == STANDALONE
    assert lifecycle_log(caplog, "stopping") == STANDALONE[::-1]


class ClosingStore(MemoryStore):
    """A memory store that says whether it is open."""

    is_open = False

    async def open(self) -> None:
        await super().open()
        self.is_open = True

    async def close(self) -> None:
        self.is_open = False
        await super().close()


async def test_a_start_that_fails_closes_what_had_started(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = Quart(__name__)
    store = ClosingStore()
    tasks = Tasks(app, registry=Registry(), store=store)

    @asynccontextmanager
    async def broken(app: Quart) -> AsyncIterator[None]:
        raise RuntimeError("this service cannot start")
        yield

    add_http_service(app, "broken", broken)
    loop = asyncio.get_running_loop()
    with caplog.at_level(logging.DEBUG, logger="tasks"):
        with pytest.raises(RuntimeError, match="this service cannot start"):
            await app.startup()
        stopped = lifecycle_log(caplog, "stopping")
    assert stopped == lifecycle_log(caplog, "started")[::-1]
    assert stopped[-1] == "store"
    assert not store.is_open
    assert tasks.services == ()
    with pytest.raises(RuntimeError, match="not started"):
        _ = tasks.runner
    name = await loop.run_in_executor(None, lambda: threading.current_thread().name)
    assert not name.startswith("tasks-worker")


async def test_the_blueprint_may_come_before_the_extension(tmp_path: Path) -> None:
    registry = Registry()

    @registry.task()
    async def double(n: int) -> int:
        return 2 * n

    app = Quart(__name__)
    app.config.update(TASKS_DATABASE=str(tmp_path / "tasks.sqlite3"), EVENTS_POLL_INTERVAL=0.05)
    app.register_blueprint(blueprint, url_prefix="/jobs")  # first: before Tasks(app)
    Tasks(app, registry=registry)
    async with app.test_app() as test_app:
        client = test_app.test_client()
        async with stream(client, "/jobs/events") as events:
            await events.next()  # the stream's start: what is submitted from now on comes
            response = await client.post("/jobs/tasks/double", json={"n": 21})
            assert response.status_code == 202
            task_id = (await response.get_json())["id"]
            (*_, last) = await events.records(
                until=lambda record: record["id"] == task_id and record["state"] == "succeeded"
            )
        assert last.record["result"] == 42
        record = await (await client.get(f"/jobs/tasks/{task_id}")).get_json()
        assert record["state"] == "succeeded"
        assert "event feed" in app.extensions["tasks"].services


def thread_name() -> str:
    return threading.current_thread().name


async def test_the_hosts_default_executor_comes_back_when_the_app_stops(
    make_app: AppFactory,
) -> None:
    loop = asyncio.get_running_loop()
    host = ThreadPoolExecutor(1, thread_name_prefix="host-pool")
    loop.set_default_executor(host)
    app = make_app(TASKS_THREADS=2)
    async with app.test_app():
        assert (await loop.run_in_executor(None, thread_name)).startswith("tasks-worker")
    assert (await loop.run_in_executor(None, thread_name)).startswith("host-pool")


async def test_a_loop_without_an_executor_gets_its_own_back(make_app: AppFactory) -> None:
    loop = asyncio.get_running_loop()
    app = make_app()
    async with app.test_app():
        assert (await loop.run_in_executor(None, thread_name)).startswith("tasks-worker")
    assert (await loop.run_in_executor(None, thread_name)).startswith("asyncio")


def test_a_uvloop_loop_gets_a_default_executor_back(make_app: AppFactory) -> None:
    """uvloop (Hypercorn's uvloop workers) keeps its executor out of reach: it gets a new one."""

    async def names() -> tuple[str, str]:
        loop = asyncio.get_running_loop()
        async with make_app().test_app():
            during = await loop.run_in_executor(None, thread_name)
        return during, await asyncio.to_thread(thread_name)

    during, after = uvloop.run(names())
    assert during.startswith("tasks-worker")
    assert not after.startswith("tasks-worker")
