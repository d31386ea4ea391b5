"""The Tasks extension in a Quart app's lifecycle: startup, drain on shutdown, hand-back."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from quart import Quart

from tasks import Registry, SQLiteStore, State, Tasks
from tests.conftest import AppFactory


async def test_shutdown_refuses_new_tasks_with_503(make_app: AppFactory) -> None:
    app = make_app()
    async with app.test_app() as test_app:
        client = test_app.test_client()
        runner = app.extensions["tasks"].runner
        app.shutdown_event.set()  # what Quart does first when the server shuts down
        while runner.accepting:
            await asyncio.sleep(0)
        response = await client.post("/tasks/noop")
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "1"
        assert (await response.get_json())["error"]["code"] == "shutting_down"
        health = await client.get("/healthz")
        assert health.status_code == 503
        assert (await health.get_json())["status"] == "draining"


async def test_waiting_tasks_are_left_queued_for_the_next_start(tmp_path: Path) -> None:
    registry = Registry()
    release = asyncio.Event()

    @registry.task()
    async def hold() -> None:
        await release.wait()

    database = tmp_path / "tasks.sqlite3"

    def build() -> Quart:
        app = Quart(__name__)
        app.config.update(TASKS_DATABASE=str(database), TASKS_MAX_RUNNING=1)
        Tasks(app, registry=registry)
        return app

    app = build()
    async with app.test_app():
        runner = app.extensions["tasks"].runner
        first = await runner.submit("hold")
        second = await runner.submit("hold")
        while runner.running < 1:
            await asyncio.sleep(0)
        drain = runner.drain

        async def drain_then_release() -> None:
            await drain()
            release.set()  # lets the first finish within the shutdown window

        runner.drain = drain_then_release
    store = SQLiteStore(database)
    await store.open()
    try:
        done, left = await store.get(first.id), await store.get(second.id)
    finally:
        await store.close()
    assert done is not None
    assert done.state is State.SUCCEEDED
    assert left is not None
    assert (left.state, left.owner) == (State.QUEUED, None)

    again = build()
    async with again.test_app():
        finished = await again.extensions["tasks"].runner.wait(second.id)
        assert finished.state is State.SUCCEEDED


def test_a_misspelled_setting_stops_the_app_with_the_known_keys() -> None:
    app = Quart(__name__)
    app.config["TASKS_MAX_RUNING"] = 4
    with pytest.raises(ValueError, match="unknown setting TASKS_MAX_RUNING; known settings"):
        Tasks(app, registry=Registry())


def test_settings_out_of_range_name_the_key() -> None:
    app = Quart(__name__)
    app.config["TASKS_MAX_RUNNING"] = 0
    with pytest.raises(ValueError, match="TASKS_MAX_RUNNING"):
        Tasks(app, registry=Registry())


def test_the_poll_interval_must_fit_in_the_lease() -> None:
    app = Quart(__name__)
    app.config.update(TASKS_LEASE=2, TASKS_POLL_INTERVAL=1.5)
    with pytest.raises(ValueError, match="TASKS_POLL_INTERVAL"):
        Tasks(app, registry=Registry())


async def test_the_runner_is_only_there_while_serving(make_app: AppFactory) -> None:
    app = make_app()
    with pytest.raises(RuntimeError, match="not started"):
        _ = app.extensions["tasks"].runner
    async with app.test_app():
        assert app.extensions["tasks"].runner.accepting
