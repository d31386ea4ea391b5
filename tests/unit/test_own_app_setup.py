"""What an app of one's own gets without wiring: settings from the environment, a startup
line naming the store, reads of a record from Python, and task bodies run alone in tests."""

from __future__ import annotations

import asyncio
import importlib
import logging
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from quart import Quart

from tasks import NoAppContext, Registry, State, TaskCancelled, TaskNotFound, Tasks, current_task
from tasks.testing import run_task, running
from tests.readme_examples import example

registry = Registry()


@registry.task()
async def report(user_id: int) -> dict[str, int]:
    current_task().progress(1, 2, "half")
    current_task().progress(2, 2, "done")
    return {"user_id": user_id}


@registry.task()
def export(rows: int) -> int:
    context = current_task()
    for row in range(rows):
        context.raise_if_cancelled()
        context.progress(row + 1, rows)
    return threading.get_ident()


@registry.task()
async def other() -> None:
    return None


def own_app(**config: object) -> Quart:
    app = Quart(__name__)
    app.config.update(config)
    Tasks(app, registry=registry)
    return app


def test_environment_variables_fill_the_keys_the_config_lacks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("QUART_TASKS_DATABASE", ":memory:")
    monkeypatch.setenv("QUART_TASKS_MAX_RUNNING", "3")  # JSON: the number 3
    monkeypatch.setenv("QUART_TASKS_HOST_ID", "web-1")  # not JSON: kept as text
    monkeypatch.setenv("QUART_TASKS_API_TOKEN", "123456")  # JSON, but a text setting
    monkeypatch.setenv("QUART_EVENTS_OF_MY_OWN", "x")  # an app's own key: left alone
    monkeypatch.setenv("QUART_EVENTS_POLL_INTERVAL", "0.25")
    app = own_app()
    settings = app.extensions["tasks"].settings
    assert (settings.database, settings.max_running, settings.host_id) == (":memory:", 3, "web-1")
    assert settings.events_poll_interval == 0.25
    assert settings.api_token == "123456"
    assert "EVENTS_OF_MY_OWN" not in app.config
    assert app.config["TASKS_MAX_RUNNING"] == 3


def test_the_config_wins_over_the_environment_and_says_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("QUART_TASKS_MAX_RUNNING", "3")
    monkeypatch.setenv("QUART_TASKS_MAX_QUEUED", "50")  # the config agrees: nothing to say
    with caplog.at_level(logging.WARNING, logger="tasks"):
        app = own_app(TASKS_MAX_RUNNING=5, TASKS_MAX_QUEUED=50)
    assert app.extensions["tasks"].settings.max_running == 5
    warned = [r.getMessage() for r in caplog.records if r.name == "tasks"]
    assert warned == [
        "QUART_TASKS_MAX_RUNNING in the environment is unused: the app's config sets "
        "TASKS_MAX_RUNNING"
    ]


def test_a_misspelled_variable_stops_the_app_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUART_TASKS_DATABSE", "/tmp/x.sqlite3")
    with pytest.raises(ValueError, match="unknown setting QUART_TASKS_DATABSE in the environment"):
        own_app()


def test_a_bad_value_from_the_environment_names_its_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUART_TASKS_MAX_RUNNING", "many")
    with pytest.raises(ValueError, match="TASKS_MAX_RUNNING"):
        own_app()


async def test_the_startup_line_names_role_store_and_broker(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    database = tmp_path / "tasks.sqlite3"
    app = own_app(TASKS_DATABASE=str(database))
    with caplog.at_level(logging.INFO, logger="tasks"):
        async with running(app):
            pass
    ready = [r.getMessage() for r in caplog.records if "tasks ready" in r.getMessage()]
    assert len(ready) == 1
    assert ready[0].startswith(f"tasks ready (standalone): store {database}, broker none; ")


def test_an_app_without_logging_shows_the_startup_line_on_stderr(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import asyncio
        from quart import Quart
        from tasks import Registry, Tasks

        app = Quart(__name__)
        app.config["TASKS_DATABASE"] = "postgresql://user:secret@127.0.0.1:1/db"
        Tasks(app, registry=Registry())
        app.config["TASKS_DATABASE"] = ":memory:"  # started on memory; the line says so

        async def main():
            async with app.test_app():
                pass

        asyncio.run(main())
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "[INFO] tasks: tasks ready (standalone): store :memory:, broker none" in done.stderr


async def test_a_record_is_read_through_its_handle_or_the_extension() -> None:
    app = own_app(TASKS_DATABASE=":memory:")
    async with running(app) as harness:
        submitted = await report.submit(user_id=7)
        await harness.wait_for(submitted.id)
        record = await report.get(submitted.id)
        assert record.state is State.SUCCEEDED
        assert record.result == {"user_id": 7}
        assert (await app.extensions["tasks"].get(submitted.id)).id == submitted.id
        with pytest.raises(TaskNotFound):
            await other.get(submitted.id)  # a task of another kind
        with pytest.raises(TaskNotFound):
            await report.get("no-such-id")
    with pytest.raises(NoAppContext):
        await report.get(submitted.id)


async def test_run_task_runs_a_coroutine_body_with_a_task_context() -> None:
    run = await run_task(report, 7)
    assert run.result == {"user_id": 7}
    assert [(p.current, p.message) for p in run.progress] == [(1, "half"), (2, "done")]
    assert (run.context.name, run.context.attempt) == ("report", 1)
    with pytest.raises(LookupError):
        current_task()  # the test's own context is left as it was


async def test_run_task_runs_a_blocking_body_in_a_thread() -> None:
    run = await run_task(export, rows=3)
    assert run.result != threading.get_ident()
    assert [p.current for p in run.progress] == [1, 2, 3]


async def test_run_task_can_start_a_body_already_cancelled() -> None:
    with pytest.raises(TaskCancelled):
        await run_task(export, 3, cancelled=True)


async def test_run_task_takes_a_plain_function_too() -> None:
    async def plain(n: int) -> int:
        current_task().progress(n)
        await asyncio.sleep(0)
        return n * 2

    run = await run_task(plain, 4, attempt=2)
    assert (run.result, run.context.attempt, run.progress[0].current) == (8, 2, 4)


async def test_the_readmes_tour_app_submits_and_reports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "tour.py").write_text(example("tour"))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("QUART_TASKS_DATABASE", str(tmp_path / "tasks.sqlite3"))
    tour = importlib.import_module("tour")
    try:
        async with running(tour.app) as harness:
            started = await harness.client.post("/reports/7")
            assert started.status_code == 202
            task_id = (await started.get_json())["id"]
            await harness.wait_for(task_id)
            status = await harness.client.get(f"/reports/{task_id}")
            assert await status.get_json() == {
                "state": "succeeded",
                "progress": {"current": 1, "total": 1, "message": "sent"},
                "result": {"user_id": 7},
            }
            missing = await harness.client.get("/reports/nothing")
            assert missing.status_code == 404
    finally:
        sys.modules.pop("tour", None)
