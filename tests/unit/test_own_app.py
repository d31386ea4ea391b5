"""The docs' own-app example, run as a user would: the blueprint under /jobs in another app."""

from __future__ import annotations

import importlib.util
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from quart import Quart

from tasks import State
from tasks.testing import running
from tests.readme_examples import write_own_app


def load_own_app(folder: Path) -> ModuleType:
    """Import the docs' myapp.py from ``folder`` under a name of its own."""
    write_own_app(folder)
    name = f"myapp_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, folder / "myapp.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # so that Quart finds the app's folder (and instance folder)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def own_app(tmp_path: Path) -> Iterator[Quart]:
    module = load_own_app(tmp_path / "project")
    app: Quart = module.create_app()
    app.config["TASKS_DATABASE"] = str(tmp_path / "tasks.sqlite3")  # read at startup
    yield app
    del sys.modules[module.__name__]
    assert not (tmp_path / "project" / "instance").exists()  # the setting was used


async def test_a_view_submits_through_the_handle_and_the_api_answers_under_the_prefix(
    own_app: Quart,
) -> None:
    async with running(own_app) as harness:
        response = await harness.client.post("/reports/7")
        assert response.status_code == 202
        task_id = (await response.get_json())["id"]
        record = await harness.wait_for(task_id)
        assert record.state is State.SUCCEEDED
        assert record.result == {"user_id": 7, "format": "pdf"}

        response = await harness.client.get(f"/jobs/tasks/{task_id}")
        assert response.status_code == 200
        assert (await response.get_json())["state"] == "succeeded"
        response = await harness.client.post("/jobs/tasks/send_report", json={"user_id": 8})
        assert response.status_code == 202
        assert response.headers["Location"] == f"/jobs/tasks/{(await response.get_json())['id']}"
        listed = await (await harness.client.get("/jobs/tasks?name=send_report")).get_json()
        assert len(listed["tasks"]) == 2
        health = await harness.client.get("/jobs/healthz")
        assert health.status_code == 200
        types = await (await harness.client.get("/jobs/task-types")).get_json()
        assert [task["name"] for task in types["task_types"]] == ["send_report"]
        await harness.wait_all()


async def test_the_task_stream_is_under_the_prefix(own_app: Quart) -> None:
    async with running(own_app) as harness:
        response = await harness.client.post("/reports/3")
        task_id = (await response.get_json())["id"]
        await harness.wait_for(task_id)
        stream = await harness.client.get(f"/jobs/tasks/{task_id}/events")
        assert stream.status_code == 200
        assert stream.mimetype == "text/event-stream"
        assert '"state":"succeeded"' in (await stream.get_data(as_text=True))


async def test_the_dashboard_uses_the_prefix_for_every_url(own_app: Quart) -> None:
    async with running(own_app) as harness:
        await harness.wait_for((await (await harness.client.post("/reports/1")).get_json())["id"])
        page = await (await harness.client.get("/jobs/")).get_data(as_text=True)
        assert 'data-base="/jobs/"' in page
        assert 'href="/jobs/static/dashboard.css"' in page
        assert 'src="/jobs/static/dashboard.js"' in page
        assert 'action="/jobs/"' in page
        assert 'href="/jobs/tasks/' in page
        script = await harness.client.get("/jobs/static/dashboard.js")
        assert script.status_code == 200
        assert "${base}events" in await script.get_data(as_text=True)
        assert (await harness.client.get("/")).status_code == 404  # nothing outside the prefix


async def test_json_errors_for_the_blueprint_and_the_host_keeps_its_own_pages(
    own_app: Quart,
) -> None:
    @own_app.errorhandler(404)
    async def host_not_found(error: Exception) -> tuple[str, int]:
        return "the host's own 404 page", 404

    async with running(own_app) as harness:
        response = await harness.client.get("/jobs/tasks/nosuch")
        assert response.status_code == 404
        assert (await response.get_json())["error"]["code"] == "task_not_found"
        response = await harness.client.post("/jobs/tasks/send_report", json={"user_id": "x"})
        assert response.status_code == 422
        assert (await response.get_json())["error"]["code"] == "invalid_arguments"
        response = await harness.client.get("/jobs/?state=bogus")
        assert response.status_code == 400
        assert "state must be one of" in (await response.get_json())["error"]["message"]

        response = await harness.client.get("/elsewhere")
        assert response.status_code == 404
        assert await response.get_data(as_text=True) == "the host's own 404 page"
