"""The README's own-app example, run as a user would: the blueprint under /jobs in another app."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest
from playwright.sync_api import Browser, expect
from quart import Quart

from tasks import State
from tasks.testing import running
from tests.browser import DESKTOP, WAIT_MS, browser, open_dashboard, start_task, task_row
from tests.readme_examples import write_own_app
from tests.servers import Server, running_server

__all__ = ["browser"]  # the fixture, used by name


def load_own_app(folder: Path) -> ModuleType:
    """Import the README's myapp.py from ``folder`` under a name of its own."""
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


def test_the_readmes_pytest_example_passes_as_written(tmp_path: Path) -> None:
    folder = write_own_app(tmp_path / "project")
    (folder / "pytest.ini").write_text("[pytest]\nasyncio_mode = auto\n")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_myapp.py"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


@pytest.fixture(scope="module")
def own_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The README's app on a real Hypercorn, its store in its instance folder."""
    folder = write_own_app(tmp_path_factory.mktemp("own-app"))
    with running_server(
        folder,
        {"PYTHONPATH": str(folder)},
        app="myapp:create_app()",
        health_path="/jobs/healthz",
        cwd=folder,
    ) as server:
        yield server


@pytest.mark.server
def test_hypercorn_serves_the_app_and_its_prefixed_api(own_server: Server) -> None:
    started = httpx.post(f"{own_server.url}/reports/5", timeout=10)
    assert started.status_code == 202
    task_id = started.json()["id"]
    with httpx.stream("GET", f"{own_server.url}/jobs/tasks/{task_id}/events", timeout=30) as events:
        lines = [line for line in events.iter_lines() if line.startswith("data:")]
    assert '"state":"succeeded"' in lines[-1]
    assert httpx.get(f"{own_server.url}/jobs/tasks/{task_id}", timeout=10).json()["result"] == {
        "user_id": 5,
        "format": "pdf",
    }


@pytest.mark.server
def test_the_dashboard_works_under_the_prefix_in_a_browser(
    browser: Browser, own_server: Server
) -> None:
    with open_dashboard(browser, f"{own_server.url}/jobs/", DESKTOP) as page:
        task_id = start_task(page, "send_report", user_id=42)
        row = task_row(page, task_id)
        expect(row).to_have_attribute("data-state", "succeeded", timeout=WAIT_MS)
        expect(row.locator(".outcome")).to_have_text('{"user_id": 42, "format": "pdf"}')
        assert row.locator("a.task-id").get_attribute("href") == f"/jobs/tasks/{task_id}"
        # a task started elsewhere reaches the page through the prefixed event stream
        other = httpx.post(f"{own_server.url}/reports/43", timeout=10).json()["id"]
        expect(task_row(page, other)).to_have_attribute("data-state", "succeeded", timeout=WAIT_MS)
        page.select_option("#filter-name", "send_report")  # the filter form's action
        page.wait_for_url("**/jobs/?state=&name=send_report")
        expect(page.locator("#live")).to_have_attribute("data-status", "open", timeout=WAIT_MS)
